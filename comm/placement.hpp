#pragma once
// Which device each rank uses (DESIGN.md "Communication"; the GPU issue).
//
// "Same host" is MPI_Comm_split_type(MPI_COMM_TYPE_SHARED) (MpiSession's
// HostLayout): the local rank, the ranks per host and the host index all come
// from it, never from host names, which containers and network namespaces may
// repeat (two hosts named alike must not be merged). GPU = local rank mod
// visible GPUs. Two ranks on one physical GPU (same host index and PCI bus
// id) is an error unless explicitly allowed (sharing a GPU is for tests).

#include <cstdint>
#include <string>

#include "comm/mpi.hpp"

namespace lockstep::comm {

enum class DeviceRequest { kAuto, kCpu, kCuda };
DeviceRequest parse_device_request(const std::string& name);  // auto | cpu | cuda

struct Placement {
  bool gpu = false;
  int device = -1;  // GPU index on the host, when gpu
  int local_rank = 0;
  int local_size = 1;
  int host_index = 0;  // HostLayout::host
  int hosts = 1;
  std::string host;  // the host name, for messages only
  // "rank 1 on node07 (host 0/2, local rank 1/4): GPU 1 (NVIDIA H100, bus 0000:3B:00.0)"
  std::string description;
};

/// Decides this rank's device (collective: the decision must agree across
/// ranks: all on GPUs or all on CPUs). Throws CollectiveError on a bad request.
Placement place_rank(const MpiSession& mpi, MpiCommunicator& comm, DeviceRequest request,
                     bool allow_shared_gpu);
/// The same with the host layout given (tests play several hosts with it).
Placement place_rank(const HostLayout& layout, MpiCommunicator& comm, DeviceRequest request,
                     bool allow_shared_gpu);

/// The identity of a physical device for the one-rank-per-GPU check: the host
/// index (not its name) and the PCI bus id.
uint64_t device_key(int host_index, const std::string& bus_id);

/// Every rank's description, gathered to rank 0 (one line each; other ranks get "").
std::string gather_placements(MpiCommunicator& comm, const Placement& mine);

}  // namespace lockstep::comm
