#pragma once
// CPU threading of the BLAS library. Several ranks on one host each start their
// own BLAS threads; without a bound they fight over the cores.

namespace lockstep {

/// Sets the number of threads CPU GEMM may use (>= 1).
void set_cpu_threads(int threads);
/// The number of threads CPU GEMM currently uses.
int cpu_threads();

}  // namespace lockstep
