// Communicator, Reducer and agreement checks with exactly known answers
// (rank-valued and small-integer inputs compared with ==). Runs on 1, 2, 4 ranks.

#include <gtest/gtest.h>

#include <numeric>

#include "comm/mpi.hpp"
#include "comm/reducer.hpp"

namespace lockstep::comm {
namespace {

TEST(MpiCommunicator, AllreduceKnownAnswers) {
  MpiCommunicator comm;
  const int p = comm.size(), r = comm.rank();
  std::vector<float> f{static_cast<float>(r + 1), 2.0f};
  comm.allreduce(std::span<float>(f), ReduceOp::kSum);
  EXPECT_EQ(f[0], static_cast<float>(p * (p + 1) / 2));
  EXPECT_EQ(f[1], 2.0f * static_cast<float>(p));

  std::vector<double> d{static_cast<double>(r)};
  comm.allreduce(std::span<double>(d), ReduceOp::kMax);
  EXPECT_EQ(d[0], p - 1);

  std::vector<int64_t> i{int64_t{1} << 40, r};
  comm.allreduce(std::span<int64_t>(i), ReduceOp::kSum);
  EXPECT_EQ(i[0], p * (int64_t{1} << 40));
  EXPECT_EQ(i[1], p * (p - 1) / 2);

  std::vector<float> avg{static_cast<float>(2 * r)};
  comm.allreduce(std::span<float>(avg), ReduceOp::kAvg);
  EXPECT_EQ(avg[0], static_cast<float>(p - 1));
}

TEST(MpiCommunicator, AsyncAllreduceAndBroadcastAndAllgather) {
  MpiCommunicator comm;
  const int p = comm.size(), r = comm.rank();
  std::vector<float> big(100000);
  for (size_t k = 0; k < big.size(); ++k)
    big[k] = static_cast<float>((k % 7) + static_cast<size_t>(r));
  auto req = comm.allreduce_async(std::span<float>(big), ReduceOp::kSum);
  req->wait();
  for (size_t k = 0; k < big.size(); k += 997)
    ASSERT_EQ(big[k], static_cast<float>(p * static_cast<int>(k % 7) + p * (p - 1) / 2));

  std::vector<float> b{static_cast<float>(r), static_cast<float>(r)};
  comm.broadcast(std::span<float>(b), p - 1);
  EXPECT_EQ(b[0], static_cast<float>(p - 1));

  const uint64_t mine = 10 + static_cast<uint64_t>(r);
  std::vector<uint64_t> all(static_cast<size_t>(p));
  comm.allgather(std::span<const uint64_t>(&mine, 1), all);
  for (int k = 0; k < p; ++k)
    EXPECT_EQ(all[static_cast<size_t>(k)], 10u + static_cast<uint64_t>(k));

  EXPECT_EQ(broadcast_string(comm, r == 0 ? "hello" : "", 0), "hello");
  comm.barrier();
}

TEST(Reducer, BucketsAverageTheWholeSlabInReverseLayerOrder) {
  MpiCommunicator comm;
  const int p = comm.size(), r = comm.rank();
  // Four layers: 10, 0 (no params), 30, 25 elements; buckets of at most 32 floats.
  const std::vector<std::pair<int64_t, int64_t>> ranges{{0, 10}, {10, 10}, {10, 40}, {40, 65}};
  std::vector<float> grads(65);
  Reducer reducer(comm, grads, ranges, 32 * sizeof(float));
  ASSERT_EQ(reducer.num_buckets(), 3u);
  EXPECT_EQ(reducer.bucket_range(0), (std::pair<int64_t, int64_t>{40, 65}));
  EXPECT_EQ(reducer.bucket_range(1), (std::pair<int64_t, int64_t>{10, 40}));
  EXPECT_EQ(reducer.bucket_range(2), (std::pair<int64_t, int64_t>{0, 10}));
  for (int step = 0; step < 3; ++step) {
    for (size_t k = 0; k < grads.size(); ++k)
      grads[k] = static_cast<float>(2 * r + static_cast<int>(k) + step);
    for (size_t layer = ranges.size(); layer-- > 0;) reducer.layer_done(layer);
    reducer.finalize();
    for (size_t k = 0; k < grads.size(); ++k)
      ASSERT_EQ(grads[k], static_cast<float>((p - 1) + static_cast<int>(k) + step)) << k;
  }
}

TEST(Agreement, OneRanksErrorEndsEveryRank) {
  MpiCommunicator comm;
  const int bad = comm.size() - 1;
  std::optional<std::string> mine;
  if (comm.rank() == bad) mine = "labels out of range";
  try {
    agree_or_throw(comm, mine);
    FAIL() << "expected an error on every rank";
  } catch (const CollectiveError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("labels out of range"), std::string::npos) << what;
    if (comm.rank() != bad) {
      EXPECT_NE(what.find("rank " + std::to_string(bad)), std::string::npos) << what;
    }
  }
  EXPECT_NO_THROW(agree_or_throw(comm, std::nullopt));
}

TEST(Agreement, ConfigHashMismatchNamesTheRanks) {
  MpiCommunicator comm;
  EXPECT_NO_THROW(check_same_across_ranks(comm, fnv1a("same"), "config"));
  if (comm.size() == 1) GTEST_SKIP() << "needs 2+ ranks";
  const uint64_t h = fnv1a(comm.rank() == 1 ? "other" : "same");
  try {
    check_same_across_ranks(comm, h, "the training configuration");
    FAIL();
  } catch (const CollectiveError& e) {
    EXPECT_NE(std::string(e.what()).find("rank(s) 1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lockstep::comm
