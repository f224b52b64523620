#include "comm/placement.hpp"

#include <unistd.h>

#include <optional>
#include <sstream>
#include <vector>

#include "core/device.hpp"

namespace lockstep::comm {

DeviceRequest parse_device_request(const std::string& name) {
  if (name == "auto") return DeviceRequest::kAuto;
  if (name == "cpu") return DeviceRequest::kCpu;
  if (name == "cuda" || name == "gpu") return DeviceRequest::kCuda;
  throw Error("dist.device: expected auto, cpu or cuda, got '" + name + "'");
}

namespace {

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown-host";
  return buf;
}

}  // namespace

uint64_t device_key(int host_index, const std::string& bus_id) {
  return fnv1a("host " + std::to_string(host_index) + "/" + bus_id);
}

Placement place_rank(const MpiSession& mpi, MpiCommunicator& comm, DeviceRequest request,
                     bool allow_shared_gpu) {
  return place_rank(mpi.layout(), comm, request, allow_shared_gpu);
}

Placement place_rank(const HostLayout& layout, MpiCommunicator& comm, DeviceRequest request,
                     bool allow_shared_gpu) {
  Placement p;
  p.host = host_name();
  p.local_rank = layout.local_rank;
  p.local_size = layout.local_size;
  p.host_index = layout.host;
  p.hosts = layout.hosts;
  const int gpus = device::count();
  // All ranks must agree on GPU or CPU: GPU only when every rank has one.
  std::vector<int64_t> min_gpus{gpus};
  comm.allreduce(std::span<int64_t>(min_gpus), ReduceOp::kMin);
  std::optional<std::string> error;
  if (request == DeviceRequest::kCuda && min_gpus[0] == 0) {
    error = gpus == 0
                ? std::string("dist.device = cuda, but ") +
                      (device::built_with_cuda() ? "no GPU is visible on " + p.host
                                                 : "this build of lockstep has no CUDA backend")
                : "dist.device = cuda, but another rank sees no GPU";
  }
  p.gpu = request == DeviceRequest::kCuda || (request == DeviceRequest::kAuto && min_gpus[0] > 0);
  agree_or_throw(comm, error);
  std::ostringstream d;
  d << "rank " << comm.rank() << " on " << p.host << " (host " << p.host_index << "/" << p.hosts
    << ", local rank " << p.local_rank << "/" << p.local_size << "): ";
  std::string bus;
  if (p.gpu) {
    p.device = p.local_rank % gpus;
    const device::Info info = device::info(p.device);
    bus = info.bus_id;
    d << "GPU " << p.device << " (" << info.name << ", bus " << info.bus_id << ")";
  } else {
    d << "CPU";
  }
  p.description = d.str();
  // One rank per physical GPU: compare (host index, bus id) across ranks. This
  // works whether every rank sees all GPUs of its node or the batch system
  // gave each task its own (srun --gpus-per-task=1: every rank sees "GPU 0"),
  // and two hosts that share a name (containers) stay apart.
  if (p.gpu && !allow_shared_gpu) {
    const uint64_t mine = device_key(p.host_index, bus);
    std::vector<uint64_t> all(static_cast<size_t>(comm.size()));
    comm.allgather(std::span<const uint64_t>(&mine, 1), all);
    std::optional<std::string> shared;
    for (int r = 0; r < comm.size(); ++r) {
      if (r != comm.rank() && all[static_cast<size_t>(r)] == mine) {
        std::ostringstream os;
        os << "ranks " << std::min(r, comm.rank()) << " and " << std::max(r, comm.rank())
           << " would share the GPU at bus " << bus << " on host " << p.host << " (host "
           << p.host_index << "/" << p.hosts << ", " << gpus << " GPU(s) visible to "
           << p.local_size
           << " ranks on the host): expected one rank per GPU (launch fewer ranks per node, "
              "or set dist.allow_shared_gpu = true)";
        shared = os.str();
        break;
      }
    }
    agree_or_throw(comm, shared);
  }
  return p;
}

std::string gather_placements(MpiCommunicator& comm, const Placement& mine) {
  std::string all = comm.rank() == 0 ? mine.description + "\n" : "";
  for (int r = 1; r < comm.size(); ++r) {
    const std::string line = broadcast_string(comm, comm.rank() == r ? mine.description : "", r);
    if (comm.rank() == 0) all += line + "\n";
  }
  return all;
}

}  // namespace lockstep::comm
