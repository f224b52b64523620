// predict for segmentation models: each pixel's class (the first highest of
// the C scores), gathered from every rank's rows in input order, written as
// /class int32 (N, H, W); a CSV name is refused. Runs on 1 and 2 ranks.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "comm/mpi.hpp"
#include "io/hdf5.hpp"
#include "io/predictions.hpp"
#include "trainer/predict.hpp"

namespace lockstep::trainer {
namespace {

TEST(PredictMaps, EachPixelsClassInInputOrder) {
  comm::MpiCommunicator comm;
  const int p = comm.size();
  constexpr int64_t kC = 3, kH = 2, kW = 3, kRows = 5;
  // Row r, pixel q: the class (r + q) % C scores highest (a tie with class 0 on row 0, pixel 0).
  const auto score = [](int64_t r, int64_t c, int64_t q) {
    if (r == 0 && q == 0) return c == 2 ? 0.0f : (c == 0 ? 0.0f : -1.0f);
    return c == (r + q) % kC ? 1.0f + static_cast<float>(r) : -static_cast<float>(c);
  };
  PredictInput input;
  input.num_rows = kRows;
  for (int r = 0; r < p; ++r) input.rank_rows.push_back(kRows / p + (r < kRows % p ? 1 : 0));
  int64_t first = 0;
  for (int r = 0; r < comm.rank(); ++r) first += input.rank_rows[static_cast<size_t>(r)];
  std::vector<float> local;
  for (int64_t r = first; r < first + input.rank_rows[static_cast<size_t>(comm.rank())]; ++r)
    for (int64_t c = 0; c < kC; ++c)
      for (int64_t q = 0; q < kH * kW; ++q) local.push_back(score(r, c, q));
  io::PredictionTable t = gather_class_maps(comm, input, local, {kC, kH, kW});
  if (comm.rank() != 0) return;
  ASSERT_EQ(t.classes.size(), static_cast<size_t>(kRows * kH * kW));
  EXPECT_EQ(t.map_shape, (std::vector<int64_t>{kH, kW}));
  EXPECT_EQ(t.classes[0], 0);  // the tie goes to the first class
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t q = 0; q < kH * kW; ++q)
      if (r > 0 || q > 0) {
        EXPECT_EQ(t.classes[static_cast<size_t>(r * kH * kW + q)], (r + q) % kC);
      }
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("lockstep_maps_" + std::to_string(getpid())))
          .string();
  std::filesystem::create_directories(dir);
  t.model = "m.h5";
  io::write_predictions(dir + "/maps.h5", t);
  {
    const io::h5::File f{io::h5::open_read_only(dir + "/maps.h5", "test")};
    const io::h5::Dataset ds{H5Dopen2(f.get(), "/class", H5P_DEFAULT)};
    const io::h5::Dataspace space{H5Dget_space(ds.get())};
    EXPECT_EQ(io::h5::extent(space.get()), (std::vector<int64_t>{kRows, kH, kW}));
  }
  EXPECT_THROW(io::write_predictions(dir + "/maps.csv", t), Error);
  EXPECT_FALSE(std::filesystem::exists(dir + "/maps.csv"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lockstep::trainer
