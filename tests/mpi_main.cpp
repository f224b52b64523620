// GoogleTest main for multi-rank suites: initialises MPI, runs the tests on
// every rank, prints results from rank 0 only, and fails the job when any rank
// failed (each rank's exit code is the OR over all ranks). When every test
// skipped on every rank, rank 0 prints the skip marker (tests/skip_marker.hpp).
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>

#include "tests/skip_marker.hpp"

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
  int skipped = lockstep::test::everything_skipped() ? 1 : 0, all_skipped = 0;
  MPI_Allreduce(&skipped, &all_skipped, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (global == 0 && all_skipped == 1 && rank == 0) lockstep::test::print_skip_marker();
  MPI_Finalize();
  return global;
}
