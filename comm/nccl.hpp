#pragma once
// NCCL communicator for GPU ranks (DESIGN.md "Communication").
//
// Bootstrapped over MPI: rank 0 creates the ncclUniqueId and broadcasts it.
// Float collectives (gradients, parameters) take *device* memory and run on a
// communication stream of their own: the stream first waits on an event
// recorded on the compute stream, and the compute stream later waits on an
// event recorded after the collective (cudaStreamWaitEvent; never a host sync).
// Averages use ncclAvg. Host-side collectives (metrics, flags, strings) go
// through the MPI communicator it was built from.

#include <memory>

#include "comm/mpi.hpp"

namespace lockstep::comm {

/// True when this build has NCCL.
bool nccl_available();

/// A communicator over the ranks of `bootstrap` using NCCL for float data on
/// the selected GPU (device::select must have run). Collective.
std::unique_ptr<Communicator> make_nccl_communicator(MpiCommunicator& bootstrap);

}  // namespace lockstep::comm
