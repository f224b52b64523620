#pragma once
// NCCL communicator for GPU ranks (DESIGN.md "Communication").
//
// Bootstrapped over MPI: rank 0 creates the ncclUniqueId and broadcasts it.
// Float collectives (gradients, parameters) take *device* memory and run on a
// communication stream of their own, which first waits on an event recorded
// on the compute stream. Waiting for a collective (Request::wait) is
// stream-ordered: the compute stream waits on the collective's completion
// event and the host does not block. A failed or hung collective still ends
// the job: every launch, wait and test checks the collectives in flight
// without blocking (NCCL's asynchronous error, the watchdog's signal), and a
// monitor thread reports one that outlives the watchdog's timeout
// (comm/inflight.hpp). The blocking float all-reduce (in-step statistics such
// as synchronised BatchNorm) runs on a second communicator and stream, so it
// does not queue behind gradient buckets in flight; it too is stream-ordered.
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
