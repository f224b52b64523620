#include "core/threads.hpp"

#include <cblas.h>

#include "core/error.hpp"

namespace lockstep {

void set_cpu_threads(int threads) {
  LOCKSTEP_CHECK(threads >= 1, "CPU threads: expected >= 1, got " << threads);
  openblas_set_num_threads(threads);
}

int cpu_threads() {
  return openblas_get_num_threads();
}

}  // namespace lockstep
