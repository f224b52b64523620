// CPU-only build: no NCCL.
#include "comm/nccl.hpp"

namespace lockstep::comm {

bool nccl_available() {
  return false;
}

std::unique_ptr<Communicator> make_nccl_communicator(MpiCommunicator& /*bootstrap*/) {
  throw Error("NCCL requested, but this build of lockstep has no CUDA backend");
}

}  // namespace lockstep::comm
