// GoogleTest main for multi-rank suites: initialises MPI, runs the tests on
// every rank, prints results from rank 0 only, and fails the job when any rank
// failed (each rank's exit code is the OR over all ranks).
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) {
    auto& listeners = testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int local = RUN_ALL_TESTS();
  int global = 0;
  MPI_Allreduce(&local, &global, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (local != 0 && rank != 0) std::fprintf(stderr, "rank %d: some tests failed\n", rank);
  MPI_Finalize();
  return global;
}
