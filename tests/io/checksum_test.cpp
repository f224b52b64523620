// Model and checkpoint checksums (io/checksum.hpp, README "File formats"): the
// documented values, a clear error naming the file and the dataset for every
// damaged array or attribute, files without checksums still load, and a write
// that hits the file size limit fails cleanly and leaves the previous file.

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <zlib.h>

#include <csignal>
#include <cstring>

#include "io/checksum.hpp"
#include "io/hdf5.hpp"
#include "io/model_file.hpp"
#include "tests/io/io_test_util.hpp"

namespace lockstep::io {
namespace {

using test::contains_all;
using test::error_of;
using test::TempFolder;

SavedModel small_checkpoint(float base = 0.0f, size_t n = 39) {
  SavedModel m;
  m.layers = "dense(4), relu, dense(2)";
  m.input_shape = {1, 2, 3};
  m.loss = "cross_entropy";
  m.num_outputs = 2;
  m.config = "[optim]\nlr = 0.1\n";
  m.layout = {{"w", {static_cast<int64_t>(n)}, 0}};
  for (size_t i = 0; i < n; ++i) m.parameters.push_back(base + 0.25f * static_cast<float>(i));
  m.buffers = {1.0f, 2.0f, 3.0f};
  TrainingState t;
  t.optimizer = "sgd";
  t.optimizer_steps = 7;
  t.optimizer_slabs.emplace_back("velocity", std::vector<float>(n, 0.5f));
  t.step = 7;
  t.epoch = 1;
  t.step_in_epoch = 2;
  t.world_size = 2;
  t.seed = 3;
  m.training = t;
  return m;
}

int64_t stored_crc(const std::string& path, const char* object) {
  h5::File file{H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT)};
  h5::Object obj{H5Oopen(file.get(), object, H5P_DEFAULT)};
  return h5::read_int64s_attribute(obj.get(), "crc32").at(0);
}

void overwrite_floats(const std::string& path, const char* name, const std::vector<float>& v) {
  h5::File file{H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)};
  h5::Dataset ds{H5Dopen2(file.get(), name, H5P_DEFAULT)};
  ASSERT_GE(H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), 0);
}

TEST(Checksum, MatchesZlibCrc32OfTheLittleEndianBytes) {
  const std::vector<float> v{1.0f, -2.5f, 3.25f};
  const auto expected = crc32(0, reinterpret_cast<const Bytef*>(v.data()), 12);  // x86: LE
  EXPECT_EQ(Crc32().floats(v).value(), expected);
  EXPECT_EQ(Crc32().lines({"a", "bc"}).value(),
            crc32(0, reinterpret_cast<const Bytef*>("a\nbc\n"), 5));
  EXPECT_EQ(Crc32().value(), 0u);
  EXPECT_EQ(checksum_text(0xabcu), "0x00000abc");
}

TEST(Checksum, WrittenAsDocumented) {
  TempFolder dir;
  const std::string path = dir.file("ckpt.h5");
  const SavedModel m = small_checkpoint();
  save_model(path, m);
  EXPECT_EQ(stored_crc(path, "/parameters"), Crc32().floats(m.parameters).value());
  EXPECT_EQ(stored_crc(path, "/buffers"), Crc32().floats(m.buffers).value());
  EXPECT_EQ(stored_crc(path, "/optimizer/velocity"),
            Crc32().floats(m.training->optimizer_slabs[0].second).value());
  EXPECT_EQ(stored_crc(path, "/layout/names"), Crc32().lines({"w"}).value());
  EXPECT_EQ(stored_crc(path, "/layout/shapes"), Crc32().lines({"39"}).value());
  EXPECT_EQ(stored_crc(path, "/optimizer"), Crc32().lines({"sgd", "7", "velocity"}).value());
  EXPECT_EQ(stored_crc(path, "/"),
            Crc32()
                .lines({m.layers, m.loss, "1x2x3", "2", m.config, "3", "7", "1", "2", "2", "3"})
                .value());
  const SavedModel back = load_model(path);
  EXPECT_EQ(back.parameters, m.parameters);
}

TEST(Checksum, DamageIsAnErrorNamingFileAndDataset) {
  TempFolder dir;
  const std::string path = dir.file("ckpt-0000000007.h5");
  for (const char* name : {"/parameters", "/buffers", "/optimizer/velocity"}) {
    const SavedModel m = small_checkpoint();
    save_model(path, m);
    const auto n = std::string(name) == "/buffers" ? m.buffers.size() : m.parameters.size();
    std::vector<float> v(n, 0.5f);
    v[0] = 1e-30f;  // one value changed
    overwrite_floats(path, name, v);
    const std::string message = error_of([&] { load_model(path); });
    EXPECT_TRUE(contains_all(
        message, {std::string("checksum mismatch in ") + name + " of ", "ckpt-0000000007.h5",
                  "expected 0x", "found 0x", "the file is corrupt"}));
  }
  // A root attribute (the training position) and the optimizer's attributes.
  save_model(path, small_checkpoint());
  {
    h5::File file{H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)};
    ASSERT_GE(H5Adelete(file.get(), "step"), 0);
    h5::write_int64_attribute(file.get(), "step", 8);
  }
  EXPECT_TRUE(contains_all(error_of([&] { load_model(path); }),
                           {"checksum mismatch in the root attributes of ", "ckpt-0000000007.h5"}));
  save_model(path, small_checkpoint());
  {
    h5::File file{H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)};
    ASSERT_GE(H5Adelete_by_name(file.get(), "/optimizer", "steps", H5P_DEFAULT), 0);
    h5::Group opt{H5Gopen2(file.get(), "/optimizer", H5P_DEFAULT)};
    h5::write_int64_attribute(opt.get(), "steps", 9);
  }
  EXPECT_TRUE(contains_all(error_of([&] { load_model(path); }),
                           {"checksum mismatch in the attributes of /optimizer of "}));
  // A checksum attribute removed while the root still has one.
  save_model(path, small_checkpoint());
  {
    h5::File file{H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)};
    ASSERT_GE(H5Adelete_by_name(file.get(), "/parameters", "crc32", H5P_DEFAULT), 0);
  }
  EXPECT_TRUE(contains_all(error_of([&] { load_model(path); }),
                           {"checksum missing on /parameters of ", "ckpt-0000000007.h5"}));
}

TEST(Checksum, FilesWithoutChecksumsStillLoad) {
  TempFolder dir;
  const std::string path = dir.file("old.h5");
  const SavedModel m = small_checkpoint();
  save_model(path, m);
  {
    h5::File file{H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)};
    for (const char* obj : {"/", "/parameters", "/buffers", "/layout/names", "/layout/offsets",
                            "/layout/shapes", "/optimizer", "/optimizer/velocity"})
      ASSERT_GE(H5Adelete_by_name(file.get(), obj, "crc32", H5P_DEFAULT), 0) << obj;
  }
  const SavedModel back = load_model(path);
  EXPECT_EQ(back.parameters, m.parameters);
  EXPECT_EQ(back.training->optimizer_slabs, m.training->optimizer_slabs);
}

// The file size limit (ulimit -f) stands in for a full disk: the write fails
// with EFBIG (SIGXFSZ is ignored by the writer), the error says so and names
// the file, and the previous file is untouched.
TEST(Checksum, FileSizeLimitLeavesThePreviousFile) {
  TempFolder dir;
  const std::string path = dir.file("model.h5");
  const SavedModel small = small_checkpoint(1.0f);
  save_model(path, small);
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  rlimit limited = old;
  limited.rlim_cur = 256 * 1024;  // the big model needs 8 MB
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limited), 0);
  const std::string message = error_of([&] { save_model(path, small_checkpoint(2.0f, 1 << 20)); });
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
  EXPECT_TRUE(contains_all(message, {"model file '" + path + "'",
                                     "the disk is full or the file size limit", "left as it was"}))
      << message;
  EXPECT_EQ(load_model(path).parameters, small.parameters);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.h5"});  // no temporary file left
}

}  // namespace
}  // namespace lockstep::io
