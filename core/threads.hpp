#pragma once
// CPU threading. Several ranks on one host each run their own threads; without
// a bound they fight over the cores. Within a rank the CPU ops split their work
// over one pool of threads (parallel_for): GEMMs by blocks of rows or columns,
// convolutions by chunks of samples, pooling by planes, element-wise passes by
// ranges; every piece runs single-threaded OpenBLAS. (OpenBLAS's own threads
// are not used: after each call they spin for a while, and next to a second
// pool on the same cores that costs more than it gains.)

#include <cstdint>
#include <functional>
#include <string>

namespace lockstep {

/// Sets the number of threads the CPU ops may use (>= 1).
void set_cpu_threads(int threads);
/// The number of threads the CPU ops may use (until set: OpenBLAS's own count,
/// e.g. from OPENBLAS_NUM_THREADS, adopted on the first call).
int cpu_threads();
/// The CPUs this process may run on (its affinity mask: mpirun and srun may
/// bind a rank to fewer cores than the host has).
int available_cpus();

/// Sets the CPU ops' threads for a rank with `local_ranks` ranks on its host:
/// `requested` (> 0); else OPENBLAS_NUM_THREADS or OMP_NUM_THREADS when set
/// (left to OpenBLAS); else the cores the rank is bound to, or, unbound, the
/// host's cores / the ranks on the host.
void configure_cpu_threads(int requested, int local_ranks);
/// When the rank is bound to fewer cores than its share of the host, a note
/// saying so (" (rank 0 is bound to 1 of 8 CPUs; ...)"); else "".
std::string cpu_binding_note(int local_ranks);

/// How many parts parallel_for(n, min_per_part, ...) runs: at most
/// cpu_threads(), at most n / min_per_part (at least 1), and 1 inside a part.
int parallel_parts(int64_t n, int64_t min_per_part);

/// Splits [0, n) into parallel_parts(n, min_per_part) contiguous ranges of
/// near-equal size (part p gets [p*n/parts, (p+1)*n/parts)) and runs
/// f(p, begin, end) for each, part 0 on the calling thread and the others on a
/// pool of worker threads; returns when all are done. The split depends only on
/// n, min_per_part and cpu_threads(), so results are reproducible for a given
/// thread count. The first
/// exception thrown by a part is rethrown here after all parts have finished.
void parallel_for(int64_t n, int64_t min_per_part,
                  const std::function<void(int part, int64_t begin, int64_t end)>& f);

}  // namespace lockstep
