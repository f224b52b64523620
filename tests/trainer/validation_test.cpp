// The validation split and early stopping (README "Validation"): the split is
// exact (round(f * N) rows, disjoint from the training rows, together all of
// them), depends on the seed and not on the ranks; the validation rows are
// evaluated exactly once across ranks; training batches (both pipeline modes)
// draw only training rows; early stopping's decisions and the best record
// round-trip through a model file. Runs on 1, 2 and 4 ranks.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "comm/mpi.hpp"
#include "io/model_file.hpp"
#include "io/pipeline.hpp"
#include "io/rows.hpp"
#include "trainer/data.hpp"
#include "trainer/early_stop.hpp"

namespace lockstep::trainer {
namespace {

constexpr int64_t kRows = 203;

// Rank 0 writes a dataset whose target is the row's index; every rank gets its path.
std::string row_dataset(comm::Communicator& comm) {
  std::string path;
  if (comm.rank() == 0) {
    path = (std::filesystem::temp_directory_path() /
            ("lockstep_val_" + std::to_string(getpid()) + ".h5"))
               .string();
    io::DatasetArrays a;
    a.sample_shape = {2};
    a.label_kind = io::LabelKind::kTargets;
    for (int64_t i = 0; i < kRows; ++i) {
      a.features_f32.insert(a.features_f32.end(), {static_cast<float>(i), 1.0f});
      a.targets.push_back(static_cast<float>(i));
    }
    io::write_dataset({path, "/features", "/labels"}, a);
  }
  return comm::broadcast_string(comm, path, 0);
}

std::vector<int64_t> all_rows(const io::RowSet& s) {
  return s.rows({0, s.size()});
}

TEST(Split, ExactDisjointAndSeeded) {
  for (const int64_t n : {1, 2, 10, 203, 1000}) {
    for (const double f : {0.0, 0.1, 0.25, 0.5, 0.99}) {
      const io::RowSplit s = io::split_rows(n, f, 7);
      const auto k = static_cast<int64_t>(std::llround(f * static_cast<double>(n)));
      ASSERT_EQ(s.val.size(), k) << "n " << n << " f " << f;
      ASSERT_EQ(s.train.size(), n - k);
      std::vector<int64_t> both = all_rows(s.train);
      const std::vector<int64_t> val = all_rows(s.val);
      both.insert(both.end(), val.begin(), val.end());
      std::sort(both.begin(), both.end());
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(both[static_cast<size_t>(i)], i);  // disjoint, all
    }
  }
  EXPECT_EQ(all_rows(io::split_rows(1000, 0.2, 7).val), all_rows(io::split_rows(1000, 0.2, 7).val));
  EXPECT_NE(all_rows(io::split_rows(1000, 0.2, 7).val), all_rows(io::split_rows(1000, 0.2, 8).val));
  EXPECT_THROW(io::split_rows(10, 1.0, 0), Error);
  EXPECT_THROW(io::split_rows(10, -0.1, 0), Error);
}

// Counts, over all ranks, how often each row was seen.
std::vector<int64_t> seen_everywhere(comm::Communicator& comm, const std::vector<float>& targets) {
  std::vector<int64_t> seen(kRows, 0);
  for (float t : targets) ++seen[static_cast<size_t>(t)];
  comm.allreduce(std::span<int64_t>(seen), comm::ReduceOp::kSum);
  return seen;
}

TEST(Split, ValidationAndTrainingRowsAcrossRanks) {
  comm::MpiCommunicator world;
  const std::string path = row_dataset(world);
  DataOptions options{{path, "/features", "/labels"}, {}, 0};
  const RunData data = open_run_data(options, {"", 0.3, 5}, 7, world);
  const io::RowSplit split = io::split_rows(kRows, 0.3, 5);  // what every rank count must use
  const std::vector<int64_t> val_rows = all_rows(split.val);
  const auto is_val = [&](int64_t r) {
    return std::binary_search(val_rows.begin(), val_rows.end(), r);
  };
  ASSERT_EQ(all_rows(data.val->rows()), all_rows(split.val));
  ASSERT_EQ(all_rows(data.train->rows()), all_rows(split.train));
  std::vector<uint64_t> sum{0};
  for (int64_t r : all_rows(data.val->rows())) sum[0] = sum[0] * 31 + static_cast<uint64_t>(r);
  std::vector<int64_t> lo{static_cast<int64_t>(sum[0])}, hi = lo;
  world.allreduce(std::span<int64_t>(lo), comm::ReduceOp::kMin);
  world.allreduce(std::span<int64_t>(hi), comm::ReduceOp::kMax);
  EXPECT_EQ(lo[0], hi[0]) << "ranks disagree on the split";

  // Validation: every validation row exactly once across ranks, no other row.
  Tensor x, y;
  std::vector<int64_t> local(static_cast<size_t>(data.val->local_rows()));
  for (size_t i = 0; i < local.size(); ++i) local[i] = static_cast<int64_t>(i);
  data.val->fill(local, x, y);
  const std::vector<int64_t> seen =
      seen_everywhere(world, {y.data<float>(), y.data<float>() + y.numel()});
  for (int64_t r = 0; r < kRows; ++r) {
    ASSERT_EQ(seen[static_cast<size_t>(r)], is_val(r) ? 1 : 0) << "row " << r;
  }

  // Training: one epoch, in memory and streamed, shuffled or not: only training
  // rows, none twice, features matching the row.
  for (const size_t memory : {size_t{0}, size_t{400}}) {
    for (const bool shuffle : {false, true}) {
      io::PipelineOptions po;
      po.batch_size = 4;
      po.seed = 3;
      po.shuffle = shuffle;
      po.memory_bytes = memory;
      io::BatchPipeline pipe(options.spec, data.train->rows(), world.size(), world.rank(), {}, po);
      EXPECT_EQ(pipe.mode(), memory ? io::PipelineMode::kStream : io::PipelineMode::kMemory);
      std::vector<float> targets;
      for (const int64_t epoch : {0, 1}) {
        pipe.start_epoch(epoch);
        targets.clear();
        for (int64_t s = 0; s < pipe.steps_per_epoch(); ++s) {
          const io::HostBatch& b = pipe.next();
          for (int64_t i = 0; i < 4; ++i) {
            ASSERT_EQ(b.x.data<float>()[2 * i], b.y.data<float>()[i]);
            targets.push_back(b.y.data<float>()[i]);
          }
        }
        const std::vector<int64_t> got = seen_everywhere(world, targets);
        int64_t total = 0;
        for (int64_t r = 0; r < kRows; ++r) {
          ASSERT_LE(got[static_cast<size_t>(r)], is_val(r) ? 0 : 1) << "row " << r;
          total += got[static_cast<size_t>(r)];
        }
        EXPECT_EQ(total, pipe.steps_per_epoch() * 4 * world.size());
      }
    }
  }
  world.barrier();
  if (world.rank() == 0) std::filesystem::remove(path);
}

TEST(EarlyStop, PatienceMinDeltaAndModes) {
  EarlyStopping s({"val_loss", false, true, 2, 0.01});
  EXPECT_TRUE(s.update(1, 1.0));
  EXPECT_TRUE(s.update(2, 0.9));
  EXPECT_FALSE(s.update(3, 0.895));  // within min_delta
  EXPECT_FALSE(s.should_stop());
  EXPECT_FALSE(s.update(4, 0.95));
  EXPECT_TRUE(s.should_stop());
  EXPECT_EQ(s.state()->epoch, 2);
  EXPECT_DOUBLE_EQ(s.state()->value, 0.9);
  EXPECT_EQ(s.state()->bad_epochs, 2);

  EarlyStopping m({"val_accuracy", true, true, 0, 0.0});
  EXPECT_TRUE(m.update(1, 0.5));
  EXPECT_TRUE(m.update(2, 0.6));
  EXPECT_FALSE(m.should_stop());
  EXPECT_FALSE(m.update(3, 0.6));
  EXPECT_TRUE(m.should_stop());  // patience 0: the first epoch without improvement

  EarlyStopping off({"val_loss", false, false, 0, 0.0});  // best tracking only
  off.update(1, 1.0);
  off.update(2, 2.0);
  EXPECT_FALSE(off.should_stop());

  EarlyStopping resumed({"val_loss", false, true, 2, 0.01});
  EXPECT_TRUE(resumed.restore(*s.state()));
  EXPECT_TRUE(resumed.should_stop());
  EXPECT_FALSE(resumed.restore({"val_accuracy", 0.5, 1, 0}));
  EXPECT_TRUE(metric_maximized("val_r2"));
  EXPECT_FALSE(metric_maximized("val_mae"));
}

TEST(EarlyStop, BestRecordInModelFiles) {
  comm::MpiCommunicator world;
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("lockstep_best_" + std::to_string(getpid()) + ".h5"))
                               .string();
  io::SavedModel m;
  m.layers = "dense(1)";
  m.input_shape = {1};
  m.loss = "mse";
  m.num_outputs = 1;
  m.layout = {{"w", {1, 1}, 0}, {"b", {1}, 1}};
  m.parameters = {0.5f, 0.25f};
  io::save_model(path, m);
  EXPECT_FALSE(io::load_model(path).best);  // files without it (older files) load
  m.best = io::BestRecord{"val_r2", 0.875, 7, 3};
  io::save_model(path, m);
  const io::SavedModel back = io::load_model(path);
  ASSERT_TRUE(back.best);
  EXPECT_EQ(back.best->metric, "val_r2");
  EXPECT_DOUBLE_EQ(back.best->value, 0.875);
  EXPECT_EQ(back.best->epoch, 7);
  EXPECT_EQ(back.best->bad_epochs, 3);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace lockstep::trainer
