#include "comm/communicator.hpp"

#include <algorithm>
#include <cstring>
#include <sstream>

namespace lockstep::comm {

std::string broadcast_string(Communicator& comm, const std::string& s, int root) {
  uint64_t len = s.size();
  std::vector<uint8_t> header(sizeof len);
  std::memcpy(header.data(), &len, sizeof len);
  comm.broadcast(std::span<uint8_t>(header), root);
  std::memcpy(&len, header.data(), sizeof len);
  std::vector<uint8_t> bytes(s.begin(), s.end());
  bytes.resize(len);
  comm.broadcast(std::span<uint8_t>(bytes), root);
  return std::string(bytes.begin(), bytes.end());
}

void agree_or_throw(Communicator& comm, const std::optional<std::string>& local_error) {
  const uint64_t mine = local_error ? 1 : 0;
  std::vector<uint64_t> flags(static_cast<size_t>(comm.size()));
  comm.allgather(std::span<const uint64_t>(&mine, 1), flags);
  int first = -1;
  for (int r = 0; r < comm.size(); ++r) {
    if (flags[static_cast<size_t>(r)] != 0) {
      first = r;
      break;
    }
  }
  if (first < 0) return;
  const std::string message = broadcast_string(comm, local_error.value_or(""), first);
  if (local_error) throw CollectiveError(*local_error);
  throw CollectiveError("rank " + std::to_string(first) + " failed: " + message, 1,
                        /*origin=*/false);
}

void check_same_across_ranks(Communicator& comm, uint64_t hash, const std::string& what) {
  std::vector<uint64_t> all(static_cast<size_t>(comm.size()));
  comm.allgather(std::span<const uint64_t>(&hash, 1), all);
  std::ostringstream differ;
  int count = 0;
  for (int r = 1; r < comm.size(); ++r) {
    if (all[static_cast<size_t>(r)] != all[0]) differ << (count++ ? ", " : "") << r;
  }
  if (count == 0) return;
  throw CollectiveError(
      what + " differs between ranks: expected every rank to match rank 0, but rank(s) " +
      differ.str() + " differ (same config and data on every rank?)");
}

std::string rank_ranges(const std::vector<int>& ranks) {
  std::string out;
  for (size_t i = 0; i < ranks.size();) {
    size_t j = i;
    while (j + 1 < ranks.size() && ranks[j + 1] == ranks[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(ranks[i]);
    if (j > i) out.append("-").append(std::to_string(ranks[j]));
    i = j + 1;
  }
  return out;
}

std::vector<std::string> error_report_lines(const std::string& prefix,
                                            const std::vector<std::string>& messages) {
  std::vector<std::pair<std::string, std::vector<int>>> groups;  // in order of the lowest rank
  for (size_t r = 0; r < messages.size(); ++r) {
    if (messages[r].empty()) continue;
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const auto& g) { return g.first == messages[r]; });
    if (it == groups.end()) it = groups.insert(groups.end(), {messages[r], {}});
    it->second.push_back(static_cast<int>(r));
  }
  std::vector<std::string> lines;
  for (const auto& [message, ranks] : groups) {
    std::string line = prefix;
    line.append(ranks.size() > 1 ? "error on ranks " : "error on rank ")
        .append(rank_ranges(ranks))
        .append(": ")
        .append(message);
    lines.push_back(std::move(line));
  }
  return lines;
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

const char* to_string(WireType w) {
  switch (w) {
    case WireType::kF32:
      return "fp32";
    case WireType::kBF16:
      return "bf16";
    case WireType::kF16:
      return "fp16";
  }
  return "?";
}

WireType parse_wire_type(const std::string& name) {
  if (name == "fp32") return WireType::kF32;
  if (name == "bf16") return WireType::kBF16;
  if (name == "fp16") return WireType::kF16;
  throw Error("dist.grad_dtype: expected fp32, bf16 or fp16, got '" + name + "'");
}

std::unique_ptr<Request> Communicator::allreduce_compressed_async(std::span<float> data,
                                                                 ReduceOp op, WireType wire) {
  if (wire == WireType::kF32) return allreduce_async(data, op);
  throw Error("dist.grad_dtype = " + std::string(to_string(wire)) + ": the " + backend() +
              " communicator sends float32 only");
}

namespace {
class CompletedRequest final : public Request {
 public:
  void wait() override {}
  bool test() override { return true; }
};
}  // namespace

std::unique_ptr<Request> Communicator::allreduce_host_async(std::span<int64_t> data,
                                                            ReduceOp op) {
  allreduce(data, op);
  return std::make_unique<CompletedRequest>();
}

std::unique_ptr<Request> Communicator::reduce_scatter_async(std::span<const float>,
                                                           std::span<float>,
                                                           const std::vector<int64_t>&, ReduceOp) {
  throw Error("dist.shard_optimizer: the " + backend() + " communicator has no reduce-scatter");
}

void Communicator::allgather_pieces(std::span<float>, const std::vector<int64_t>&) {
  throw Error("dist.shard_optimizer: the " + backend() + " communicator has no all-gather");
}

}  // namespace lockstep::comm
