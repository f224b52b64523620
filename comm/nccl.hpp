#pragma once
// NCCL communicator for GPU ranks (DESIGN.md "Communication").
//
// Bootstrapped over MPI: rank 0 creates the ncclUniqueId and broadcasts it.
// Float collectives (gradients, parameters) take *device* memory and run on a
// communication stream of their own, which first waits on an event recorded
// on the compute stream. Waiting for a collective (Request::wait) is a host
// wait: the training thread polls the completion event and NCCL's asynchronous
// error state (so that a failed peer or the watchdog's timeout can end the
// job), then orders the compute stream after the event.
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
