// Per-pixel labels across real MPI ranks: trainer::ShardedData (evaluation
// shards: every row once over all ranks) fills (n, C, H, W) features and
// (n, H, W) int32 label maps that belong together, and the training pipelines
// of all ranks (in memory and streaming) cover disjoint rows with matching
// maps; a class id out of range fails on every rank naming the row and pixel.
// Exact answers: a row's first feature is its row number, its map a known
// function of (row, y, x).

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "comm/mpi.hpp"
#include "io/pipeline.hpp"
#include "trainer/data.hpp"

namespace lockstep::trainer {
namespace {

constexpr int64_t kRows = 37, kC = 2, kH = 4, kW = 6;

int32_t label_of(int64_t row, int64_t p) {
  return static_cast<int32_t>((row * 3 + p) % 5);
}

std::string seg_dataset(comm::Communicator& comm, const std::string& tag, int32_t bad = -1) {
  std::string path;
  if (comm.rank() == 0) {
    path = (std::filesystem::temp_directory_path() /
            ("lockstep_seg_" + tag + "_" + std::to_string(getpid()) + ".h5"))
               .string();
    io::DatasetArrays a;
    a.feature_type = io::FeatureType::kUint8;
    a.sample_shape = {kC, kH, kW};
    a.label_shape = {kH, kW};
    for (int64_t r = 0; r < kRows; ++r) {
      for (int64_t j = 0; j < kC * kH * kW; ++j)
        a.features_u8.push_back(static_cast<uint8_t>(j == 0 ? r : (r + j) % 251));
      for (int64_t p = 0; p < kH * kW; ++p) a.labels.push_back(label_of(r, p));
    }
    if (bad >= 0) a.labels[static_cast<size_t>(bad)] = 7;
    io::write_dataset({path, "/features", "/labels"}, a);
  }
  return comm::broadcast_string(comm, path, 0);
}

// Checks the label maps of a batch against its features' rows; returns the rows.
std::vector<int64_t> rows_of(const Tensor& x, const Tensor& y) {
  EXPECT_EQ(y.shape(), (Shape{x.dim(0), kH, kW}));
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < x.dim(0); ++i) {
    const auto row = static_cast<int64_t>(std::lround(x.data<float>()[i * kC * kH * kW] * 255.0f));
    rows.push_back(row);
    for (int64_t p = 0; p < kH * kW; ++p)
      EXPECT_EQ(y.data<int32_t>()[i * kH * kW + p], label_of(row, p)) << "row " << row;
  }
  return rows;
}

TEST(DenseLabelsMpi, ShardedDataFillsLabelMapsAndCoversEveryRowOnce) {
  comm::MpiCommunicator world;
  const std::string path = seg_dataset(world, "eval");
  DataOptions o;
  o.spec.path = path;
  o.shard_block = 5;  // evaluation shards: whole blocks, some ranks may have none
  ShardedData data(o, world);
  EXPECT_TRUE(data.info().per_pixel());
  std::vector<int64_t> local(static_cast<size_t>(data.local_rows()));
  for (size_t i = 0; i < local.size(); ++i) local[i] = static_cast<int64_t>(i);
  Tensor x, y;
  std::vector<int64_t> seen(kRows, 0);
  if (!local.empty()) {
    data.fill(local, x, y);
    for (int64_t r : rows_of(x, y)) ++seen[static_cast<size_t>(r)];
  }
  world.allreduce(std::span<int64_t>(seen), comm::ReduceOp::kSum);
  for (int64_t r = 0; r < kRows; ++r) EXPECT_EQ(seen[static_cast<size_t>(r)], 1) << "row " << r;
  world.barrier();
  if (world.rank() == 0) std::filesystem::remove(path);
}

TEST(DenseLabelsMpi, TrainingPipelinesOfAllRanksInBothModes) {
  comm::MpiCommunicator world;
  const std::string path = seg_dataset(world, "train");
  for (bool stream : {false, true}) {
    io::PipelineOptions o;
    o.batch_size = 3;
    o.seed = 9;
    // 4 batch slots of 3 rows (float features) plus an 8-row shuffle buffer
    // (uint8 features): below every shard of 37 / P rows, so all stream.
    const auto batch_row = static_cast<size_t>(kC * kH * kW * 4 + kH * kW * 4);
    const auto stored_row = static_cast<size_t>(kC * kH * kW + kH * kW * 4);
    o.memory_bytes = stream ? 12 * batch_row + 8 * stored_row : 0;
    io::BatchPipeline pipe({path, "/features", "/labels"}, kRows, world.size(), world.rank(),
                           io::Normalization{}, o);
    ASSERT_EQ(pipe.mode(), stream ? io::PipelineMode::kStream : io::PipelineMode::kMemory);
    std::vector<int64_t> seen(kRows, 0);
    for (int64_t epoch = 0; epoch < 2; ++epoch) {
      pipe.start_epoch(epoch);
      std::fill(seen.begin(), seen.end(), 0);
      for (int64_t s = 0; s < pipe.steps_per_epoch(); ++s) {
        const io::HostBatch& b = pipe.next();
        for (int64_t r : rows_of(b.x, b.y)) ++seen[static_cast<size_t>(r)];
      }
      world.allreduce(std::span<int64_t>(seen), comm::ReduceOp::kSum);
      int64_t total = 0;
      for (int64_t c : seen) {
        EXPECT_LE(c, 1) << "a row twice in one epoch";
        total += c;
      }
      EXPECT_EQ(total, pipe.steps_per_epoch() * 3 * world.size());
    }
  }
  world.barrier();
  if (world.rank() == 0) std::filesystem::remove(path);
}

TEST(DenseLabelsMpi, OutOfRangeClassIdFailsOnEveryRank) {
  comm::MpiCommunicator world;
  const std::string path = seg_dataset(world, "bad", /*bad=*/(kRows - 1) * kH * kW + kW + 2);
  DataOptions o;
  o.spec.path = path;
  ShardedData data(o, world);
  ModelInterface model{{kC, kH, kW}, 5, true, {kH, kW}};
  try {
    data.check_fits(model, world);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("row 36 pixel (y 1, x 2) has class id 7; expected 0 <= id < 5"),
              std::string::npos)
        << msg;
  }
  world.barrier();
  if (world.rank() == 0) std::filesystem::remove(path);
}

}  // namespace
}  // namespace lockstep::trainer
