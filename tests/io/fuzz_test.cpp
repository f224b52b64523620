// Bad input, fuzzed: valid dataset, model, checkpoint and CSV files are damaged
// in many seeded ways (truncations, byte flips, wrong dtypes and shapes, a
// compression filter HDF5 cannot decode, CSV garbage) and fed to the loaders.
// Every case must end in a lockstep::Error or a clean load, never another
// exception, a crash or a hang (a watchdog names the case that hangs); a model
// or checkpoint that loads must equal the original (the checksums). Config
// garbage goes through the `lockstep` binary (LOCKSTEP_BIN). Also run under
// AddressSanitizer and UBSan (launch/test.sh, LOCKSTEP_SANITIZE).

#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "io/dataset.hpp"
#include "io/importers.hpp"
#include "io/model_file.hpp"
#include "tests/io/io_test_util.hpp"

extern char** environ;

namespace lockstep::io {
namespace {

using test::TempFolder;

char g_case[512];  // the case under test, for the watchdog

void on_alarm(int) {
  const char prefix[] = "\nfuzz: no result after 20 s (a hang) in case: ";
  [[maybe_unused]] auto a = ::write(2, prefix, sizeof prefix - 1);
  [[maybe_unused]] auto b = ::write(2, g_case, strnlen(g_case, sizeof g_case));
  _exit(3);
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

struct Tally {
  int loaded = 0, rejected = 0;
};

// Runs `load`: a clean load (true) or a lockstep::Error with a message (false).
template <class F>
bool run_case(const std::string& name, Tally& tally, F&& load) {
  std::snprintf(g_case, sizeof g_case, "%s", name.c_str());
  signal(SIGALRM, on_alarm);
  alarm(20);
  bool ok = false;
  try {
    load();
    ok = true;
    ++tally.loaded;
  } catch (const Error& e) {
    EXPECT_GT(std::strlen(e.what()), 10u) << name;
    ++tally.rejected;
  } catch (const std::exception& e) {
    ADD_FAILURE() << name << ": expected lockstep::Error, got another exception: " << e.what();
  }
  alarm(0);
  return ok;
}

// Truncations at `n` offsets and `flips` cases of 1-4 changed bytes.
template <class F>
void damage_cases(const std::string& good, const std::string& path, const std::string& label,
                  std::mt19937& rng, int n, int flips, Tally& tally, F&& load) {
  const std::string bytes = read_bytes(good);
  for (int i = 0; i < n; ++i) {
    const size_t at = bytes.size() * static_cast<size_t>(i) / static_cast<size_t>(n);
    write_bytes(path, bytes.substr(0, at));
    run_case(label + " truncated at " + std::to_string(at), tally, load);
  }
  for (int i = 0; i < flips; ++i) {
    std::string b = bytes;
    std::ostringstream what;
    const int count = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < count; ++k) {
      const size_t at = rng() % b.size();
      b[at] = static_cast<char>(b[at] ^ static_cast<char>(1 + rng() % 255));
      what << " " << at;
    }
    write_bytes(path, b);
    run_case(label + " bytes changed at" + what.str(), tally, load);
  }
}

DatasetArrays small_dataset() {
  DatasetArrays d;
  d.sample_shape = {1, 4, 4};
  d.feature_type = FeatureType::kFloat32;
  for (int i = 0; i < 64 * 16; ++i) d.features_f32.push_back(static_cast<float>(i % 13) / 13.0f);
  for (int i = 0; i < 64; ++i) d.labels.push_back(i % 10);
  return d;
}

void load_dataset(const std::string& path) {
  const DatasetSpec spec{path};
  const DatasetInfo info = probe_dataset(spec);
  const Shard shard = Shard::load(spec, 0, info.num_samples);
  if (info.label_kind == LabelKind::kClassIds) shard.check_labels(1000, spec);
  std::vector<int64_t> rows(static_cast<size_t>(shard.size()));
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int64_t>(i);
  std::vector<float> out(rows.size() * static_cast<size_t>(info.sample_size()));
  shard.gather_features(rows, Normalization{}, out);
}

TEST(Fuzz, DatasetFiles) {
  TempFolder dir;
  std::mt19937 rng(1);
  const std::string good = dir.file("good.h5"), bad = dir.file("bad.h5");
  write_dataset(DatasetSpec{good}, small_dataset());
  Tally tally;
  damage_cases(good, bad, "dataset", rng, 100, 400, tally, [&] { load_dataset(bad); });
  // Wrong dtypes and shapes for /features and /labels.
  const std::vector<std::pair<const char*, hid_t>> types = {
      {"int8", H5T_STD_I8LE},        {"uint16", H5T_STD_U16LE}, {"int32", H5T_STD_I32LE},
      {"int64", H5T_STD_I64BE},      {"uint64", H5T_STD_U64LE}, {"float64", H5T_IEEE_F64LE},
      {"float32be", H5T_IEEE_F32BE}, {"uint8", H5T_STD_U8LE},   {"int16", H5T_STD_I16LE}};
  const std::vector<std::vector<hsize_t>> shapes = {
      {}, {64}, {64, 16}, {64, 1, 4, 4}, {0, 4}, {64, 0}, {3, 1, 4, 4}, {64, 1, 1, 1, 1, 1}};
  std::vector<double> zeros(64 * 16, 0.0);
  for (const auto& [tname, type] : types) {
    for (const auto& shape : shapes) {
      for (const bool features : {true, false}) {
        {
          test::RawFile f(bad);
          const std::vector<hsize_t> good_f{64, 1, 4, 4}, good_l{64};
          f.add("/features", features ? type : H5T_IEEE_F32LE, H5T_NATIVE_DOUBLE,
                features ? shape : good_f, zeros.data());
          f.add("/labels", features ? H5T_STD_I32LE : type, H5T_NATIVE_DOUBLE,
                features ? good_l : shape, zeros.data());
        }
        std::string s;
        for (hsize_t d : shape) s += std::to_string(d) + "x";
        run_case(std::string(features ? "features " : "labels ") + tname + " " + s, tally,
                 [&] { load_dataset(bad); });
      }
    }
  }
  // A compression filter this HDF5 cannot decode: written through a filter we
  // register, read after unregistering it.
  const H5Z_class2_t filter = {
      H5Z_CLASS_T_VERS,
      32123,
      1,
      1,
      "lockstep test filter",
      nullptr,
      nullptr,
      [](unsigned, size_t, const unsigned[], size_t n, size_t*, void**) -> size_t { return n; }};
  ASSERT_GE(H5Zregister(&filter), 0);
  {
    test::RawFile f(bad);
    h5::PropList dcpl{H5Pcreate(H5P_DATASET_CREATE)};
    const hsize_t chunk[4] = {8, 1, 4, 4}, dims[4] = {64, 1, 4, 4};
    H5Pset_chunk(dcpl.get(), 4, chunk);
    H5Pset_filter(dcpl.get(), 32123, H5Z_FLAG_MANDATORY, 0, nullptr);
    h5::Dataspace space{H5Screate_simple(4, dims, nullptr)};
    h5::Dataset ds{H5Dcreate2(f.get(), "/features", H5T_IEEE_F32LE, space.get(), H5P_DEFAULT,
                              dcpl.get(), H5P_DEFAULT)};
    const std::vector<float> v(64 * 16, 0.5f);
    ASSERT_GE(H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), 0);
    const std::vector<int32_t> l(64, 1);
    f.add("/labels", H5T_STD_I32LE, H5T_NATIVE_INT32, {64}, l.data());
  }
  ASSERT_GE(H5Zunregister(32123), 0);
  EXPECT_FALSE(run_case("unknown filter 32123", tally, [&] { load_dataset(bad); }));
  EXPECT_TRUE(test::contains_all(test::error_of([&] { load_dataset(bad); }),
                                 {bad, "'/features'", "filter 32123", "cannot decode"}));
  std::printf("dataset cases: %d rejected, %d loaded\n", tally.rejected, tally.loaded);
}

SavedModel model(bool checkpoint) {
  SavedModel m;
  m.layers = "dense(4), relu, dense(2)";
  m.input_shape = {1, 2, 3};
  m.loss = "cross_entropy";
  m.num_outputs = 2;
  m.config = "[optim]\nlr = 0.1\n";
  m.layout = {{"dense0.weight", {4, 6}, 0},
              {"dense0.bias", {4}, 24},
              {"dense2.weight", {2, 4}, 28},
              {"dense2.bias", {2}, 36}};
  for (int i = 0; i < 38; ++i) m.parameters.push_back(0.25f * static_cast<float>(i) - 3.0f);
  m.buffers = {1.0f, 2.0f};
  if (checkpoint) {
    TrainingState t;
    t.optimizer = "adam";
    t.optimizer_steps = 5;
    t.optimizer_slabs = {{"exp_avg", std::vector<float>(38, 0.1f)},
                         {"exp_avg_sq", std::vector<float>(38, 0.2f)}};
    t.step = 5;
    m.training = t;
  }
  return m;
}

void expect_same(const SavedModel& a, const SavedModel& b, const std::string& name) {
  EXPECT_EQ(a.parameters, b.parameters) << name;
  EXPECT_EQ(a.buffers, b.buffers) << name;
  EXPECT_EQ(a.config, b.config) << name;
  EXPECT_EQ(a.layers, b.layers) << name;
  EXPECT_EQ(a.input_shape, b.input_shape) << name;
  ASSERT_EQ(a.layout.size(), b.layout.size()) << name;
  for (size_t i = 0; i < a.layout.size(); ++i) {
    EXPECT_EQ(a.layout[i].offset, b.layout[i].offset) << name;
    EXPECT_EQ(a.layout[i].shape, b.layout[i].shape) << name;
  }
  ASSERT_EQ(a.training.has_value(), b.training.has_value()) << name;
  if (a.training) {
    EXPECT_EQ(a.training->optimizer_slabs, b.training->optimizer_slabs) << name;
    EXPECT_EQ(a.training->step, b.training->step) << name;
    EXPECT_EQ(a.training->optimizer_steps, b.training->optimizer_steps) << name;
  }
}

TEST(Fuzz, ModelAndCheckpointFiles) {
  TempFolder dir;
  std::mt19937 rng(2);
  Tally tally;
  for (const bool checkpoint : {false, true}) {
    const std::string good = dir.file("good.h5"), bad = dir.file("bad.h5");
    const SavedModel original = model(checkpoint);
    save_model(good, original);
    const std::string label = checkpoint ? "checkpoint" : "model";
    damage_cases(good, bad, label, rng, 100, 350, tally, [&] {
      const SavedModel back = load_model(bad);
      expect_same(back, original, std::string(g_case));  // loads only when undamaged
    });
    // Wrong dtypes and shapes of the arrays.
    for (const char* name : {"/parameters", "/buffers", "/layout/offsets", "/layout/names"}) {
      for (const auto& [type, shape] :
           std::vector<std::pair<hid_t, std::vector<hsize_t>>>{{H5T_STD_I32LE, {38}},
                                                               {H5T_IEEE_F64LE, {38}},
                                                               {H5T_IEEE_F32LE, {2, 19}},
                                                               {H5T_IEEE_F32LE, {}},
                                                               {H5T_IEEE_F32LE, {0}},
                                                               {H5T_STD_I64LE, {4}}}) {
        write_bytes(bad, read_bytes(good));
        {
          h5::File f{H5Fopen(bad.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)};
          ASSERT_GE(H5Ldelete(f.get(), name, H5P_DEFAULT), 0);
          const std::vector<double> zeros(64, 0.0);
          h5::Dataspace space{shape.empty() ? H5Screate(H5S_SCALAR)
                                            : H5Screate_simple(static_cast<int>(shape.size()),
                                                               shape.data(), nullptr)};
          h5::Dataset ds{
              H5Dcreate2(f.get(), name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)};
          H5Dwrite(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros.data());
        }
        EXPECT_FALSE(run_case(label + " " + name + " replaced", tally, [&] { load_model(bad); }));
      }
    }
  }
  std::printf("model cases: %d rejected, %d loaded\n", tally.rejected, tally.loaded);
}

// One CSV line of random content: good rows, wrong column counts, non-numbers,
// NaN/inf, empty lines, huge numbers, long lines, quotes, NUL bytes.
std::string csv_line(std::mt19937& rng) {
  static const std::vector<std::string> tokens = {"1",
                                                  "0.5",
                                                  "-2e3",
                                                  "",
                                                  " ",
                                                  "abc",
                                                  "1.2.3",
                                                  "0x10",
                                                  "--1",
                                                  "nan",
                                                  "NaN",
                                                  "inf",
                                                  "-inf",
                                                  "1e400",
                                                  "-1e999",
                                                  "99999999999999999999999",
                                                  "4294967296",
                                                  "-1",
                                                  "1.5",
                                                  "\"1\"",
                                                  std::string("1\0", 2),
                                                  "\xef\xbb\xbf"
                                                  "1",
                                                  "1\r",
                                                  "cat",
                                                  "dog",
                                                  "1e-400",
                                                  "+3",
                                                  "."};
  switch (rng() % 10) {
    case 0:
      return "";
    case 1:
      return std::string(1 + rng() % 20000, static_cast<char>('0' + rng() % 10));
    default: {
      const int columns = rng() % 4 == 0 ? static_cast<int>(rng() % 7) : 4;
      std::string line;
      for (int c = 0; c < columns; ++c) {
        if (c > 0) line += rng() % 20 == 0 ? ";" : ",";
        line += rng() % 3 == 0 ? tokens[rng() % tokens.size()] : std::to_string(rng() % 5);
      }
      return line;
    }
  }
}

TEST(Fuzz, CsvFiles) {
  TempFolder dir;
  std::mt19937 rng(3);
  Tally tally;
  const std::string path = dir.file("t.csv");
  for (int i = 0; i < 1500; ++i) {
    std::string text = rng() % 4 == 0 ? "" : "a,b,c,label\n";
    const int lines = 1 + static_cast<int>(rng() % 12);
    for (int l = 0; l < lines; ++l) text += csv_line(rng) + (rng() % 8 == 0 ? "\r\n" : "\n");
    if (rng() % 5 == 0) text.resize(rng() % (text.size() + 1));  // cut anywhere
    write_bytes(path, text);
    CsvOptions o;
    o.has_header = rng() % 4 != 0;
    o.regression = rng() % 3 == 0;
    static const char* columns[] = {"", "label", "0", "3", "7", "nope", "-1"};
    o.label_column = columns[rng() % 7];
    if (rng() % 5 == 0) o.test_fraction = 0.5;
    if (rng() % 10 == 0) o.delimiter = ';';
    run_case("csv " + std::to_string(i), tally, [&] {
      const CsvImport r = read_csv(path, o);
      const DatasetArrays& d = r.train;
      const size_t n = static_cast<size_t>(d.num_samples());
      const size_t f = d.sample_shape.empty() ? 0 : static_cast<size_t>(d.sample_shape[0]);
      EXPECT_EQ(d.features_f32.size(), n * f) << g_case;
      for (float v : d.features_f32) EXPECT_TRUE(std::isfinite(v)) << g_case;
      for (int32_t v : d.labels) EXPECT_GE(v, 0) << g_case;
      for (float v : d.targets) EXPECT_TRUE(std::isfinite(v)) << g_case;
    });
  }
  std::printf("csv cases: %d rejected, %d loaded\n", tally.rejected, tally.loaded);
}

// Config garbage through the binary: a clear error and exit code 1-127, never a
// signal, within the timeout.
TEST(Fuzz, ConfigFiles) {
  const char* bin = std::getenv("LOCKSTEP_BIN");
  if (bin == nullptr || access(bin, X_OK) != 0) {
    // launch/test.sh's sanitizer run sets LOCKSTEP_FUZZ_REQUIRE_BIN: there a
    // missing executable is a mistake in the build, not a reason to skip.
    if (std::getenv("LOCKSTEP_FUZZ_REQUIRE_BIN") != nullptr)
      FAIL() << "LOCKSTEP_BIN (" << (bin ? bin : "unset") << ") is not built";
    GTEST_SKIP() << "LOCKSTEP_BIN not built";
  }
  TempFolder dir;
  std::mt19937 rng(4);
  static const std::vector<std::string> lines = {"[model]",
                                                 "[optim",
                                                 "]",
                                                 "[]",
                                                 "[nosuch]",
                                                 "layers = dense(",
                                                 "layers = dense(-1)",
                                                 "layers = dense(99999999999999999999)",
                                                 "lr = 1e400",
                                                 "lr = nan",
                                                 "lr = -inf",
                                                 "lr =",
                                                 "= 3",
                                                 "===",
                                                 "epochs = 1.5",
                                                 "epochs = -3",
                                                 "global_batch_size = 0",
                                                 "name = sgd",
                                                 "name = \xff\xfe",
                                                 "[train]",
                                                 "[optim]",
                                                 "[data]",
                                                 "train = /nonexistent.h5",
                                                 "limit = 99999999999999999999999",
                                                 std::string("x\0y = 1", 7),
                                                 "momentum = 0x10",
                                                 std::string(5000, 'k') + " = 1",
                                                 "mean = 1,,2",
                                                 "std = 0",
                                                 "layers = residual(residual("};
  const std::string ini = dir.file("c.ini");
  for (int i = 0; i < 24; ++i) {
    std::string text;
    const int n = 1 + static_cast<int>(rng() % 8);
    for (int l = 0; l < n; ++l) text += lines[rng() % lines.size()] + "\n";
    if (i % 6 == 5)  // random bytes
      for (int b = 0; b < 200; ++b) text += static_cast<char>(rng() % 256);
    write_bytes(ini, text);
    const std::string log = dir.file("log");
    std::string c = std::string("timeout 60 ") + bin + " train --config " + ini + " --log.dir " +
                    dir.file("runs") + " --train.epochs 1 > " + log + " 2>&1";
    const int status = std::system(c.c_str());
    const std::string out = read_bytes(log);
    ASSERT_TRUE(WIFEXITED(status)) << "config " << i << ": killed by a signal\n" << text;
    const int rc = WEXITSTATUS(status);
    EXPECT_TRUE(rc > 0 && rc < 124) << "config " << i << ": exit code " << rc << "\n"
                                    << text << "\n"
                                    << out;
    EXPECT_NE(out.find("error"), std::string::npos) << "config " << i << ":\n" << out;
    // Under launch/test.sh's sanitizer build: no report from ASan, LSan or UBSan
    // (their exit codes alone would pass the check above).
    EXPECT_EQ(out.find("Sanitizer"), std::string::npos) << "config " << i << ":\n" << out;
    EXPECT_EQ(out.find("runtime error:"), std::string::npos) << "config " << i << ":\n" << out;
  }
}

}  // namespace
}  // namespace lockstep::io
