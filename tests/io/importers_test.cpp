// Importers: IDX (gzipped and plain, truncated, bad magic, real Fashion-MNIST
// when installed) and CSV (headers, label columns, class names, regression,
// quoting/CRLF, the train/test split and the error messages).

#include "io/importers.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "tests/io/io_test_util.hpp"

namespace lockstep::io {
namespace {

using test::contains_all;
using test::error_of;
using test::TempFolder;
using test::write_text;

// ------------------------------------------------------------------ IDX

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

std::vector<uint8_t> idx_images(uint32_t n, uint32_t rows, uint32_t cols) {
  std::vector<uint8_t> out;
  put_u32(out, 0x00000803);
  put_u32(out, n);
  put_u32(out, rows);
  put_u32(out, cols);
  for (uint32_t i = 0; i < n * rows * cols; ++i) out.push_back(static_cast<uint8_t>(i * 13 % 256));
  return out;
}

std::vector<uint8_t> idx_labels(uint32_t n) {
  std::vector<uint8_t> out;
  put_u32(out, 0x00000801);
  put_u32(out, n);
  for (uint32_t i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(i % 10));
  return out;
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes, bool gzip) {
  if (!gzip) {
    write_text(path, std::string(bytes.begin(), bytes.end()));
    return;
  }
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  gzclose(f);
}

class Idx : public testing::TestWithParam<bool> {};

TEST_P(Idx, RoundTrip) {
  TempFolder dir;
  const bool gz = GetParam();
  const auto images = idx_images(5, 3, 4);
  write_bytes(dir.file("img"), images, gz);
  write_bytes(dir.file("lab"), idx_labels(5), gz);
  const DatasetArrays a = read_idx(dir.file("img"), dir.file("lab"));
  EXPECT_EQ(a.num_samples(), 5);
  EXPECT_EQ(a.sample_shape, (std::vector<int64_t>{1, 3, 4}));
  EXPECT_EQ(a.feature_type, FeatureType::kUint8);
  EXPECT_EQ(a.label_kind, LabelKind::kClassIds);
  EXPECT_EQ(a.features_u8, std::vector<uint8_t>(images.begin() + 16, images.end()));
  EXPECT_EQ(a.labels, (std::vector<int32_t>{0, 1, 2, 3, 4}));
  // The arrays make a valid dataset.
  const DatasetSpec spec{dir.file("out.h5")};
  write_dataset(spec, a);
  EXPECT_EQ(probe_dataset(spec).sample_shape, (std::vector<int64_t>{1, 3, 4}));
}

TEST_P(Idx, TruncatedFilesSayExpectedAndFound) {
  TempFolder dir;
  const bool gz = GetParam();
  auto images = idx_images(5, 3, 4);
  images.resize(images.size() - 5);
  write_bytes(dir.file("img"), images, gz);
  write_bytes(dir.file("lab"), idx_labels(5), gz);
  EXPECT_TRUE(contains_all(error_of([&] { read_idx(dir.file("img"), dir.file("lab")); }),
                           {"img'", "truncated", "expected 76 bytes", "found 71"}));
  auto labels = idx_labels(5);
  labels.pop_back();
  write_bytes(dir.file("img"), idx_images(5, 3, 4), gz);
  write_bytes(dir.file("lab"), labels, gz);
  EXPECT_TRUE(contains_all(error_of([&] { read_idx(dir.file("img"), dir.file("lab")); }),
                           {"lab'", "truncated", "expected 13 bytes", "found 12"}));
  write_bytes(dir.file("lab"), {0, 0, 8}, gz);
  EXPECT_TRUE(contains_all(error_of([&] { read_idx(dir.file("img"), dir.file("lab")); }),
                           {"lab'", "truncated", "found 3"}));
}

TEST_P(Idx, BadMagicAndCountMismatch) {
  TempFolder dir;
  const bool gz = GetParam();
  write_bytes(dir.file("img"), idx_images(5, 3, 4), gz);
  write_bytes(dir.file("lab"), idx_labels(4), gz);
  EXPECT_TRUE(contains_all(
      error_of([&] { read_idx(dir.file("lab"), dir.file("img")); }),
      {"IDX images file", "lab'", "bad magic number 0x00000801", "expected 0x00000803"}));
  EXPECT_TRUE(contains_all(error_of([&] { read_idx(dir.file("img"), dir.file("lab")); }),
                           {"5 images", "4 labels"}));
}

INSTANTIATE_TEST_SUITE_P(GzipAndPlain, Idx, testing::Bool(),
                         [](const testing::TestParamInfo<bool>& param) {
                           return param.param ? "Gzip" : "Plain";
                         });

TEST(IdxErrors, MissingAndCorruptGzip) {
  TempFolder dir;
  EXPECT_TRUE(contains_all(error_of([&] { read_idx(dir.file("none"), dir.file("none2")); }),
                           {"none'", "no such file"}));
  write_bytes(dir.file("img.gz"), idx_images(50, 28, 28), true);
  const auto size = std::filesystem::file_size(dir.file("img.gz"));
  std::filesystem::resize_file(dir.file("img.gz"), size / 2);
  write_bytes(dir.file("lab.gz"), idx_labels(50), true);
  EXPECT_TRUE(contains_all(error_of([&] { read_idx(dir.file("img.gz"), dir.file("lab.gz")); }),
                           {"img.gz"}));
}

TEST(IdxFashionMnist, ReadsTheTestSet) {
  const std::string root = "/usr/share/datasets/fashion-mnist/";
  const std::string images = root + "t10k-images-idx3-ubyte.gz";
  const std::string labels = root + "t10k-labels-idx1-ubyte.gz";
  if (!std::filesystem::exists(images) || !std::filesystem::exists(labels)) {
    GTEST_SKIP() << "Fashion-MNIST not installed at " << root;
  }
  const DatasetArrays a = read_idx(images, labels);
  EXPECT_EQ(a.num_samples(), 10000);
  EXPECT_EQ(a.sample_shape, (std::vector<int64_t>{1, 28, 28}));
  ASSERT_EQ(a.labels.size(), 10000u);
  const auto [lo, hi] = std::minmax_element(a.labels.begin(), a.labels.end());
  EXPECT_EQ(*lo, 0);
  EXPECT_EQ(*hi, 9);
}

// ------------------------------------------------------------------ CSV

TEST(Csv, HeaderAndLabelByName) {
  TempFolder dir;
  write_text(dir.file("a.csv"), "x1,label,x2\n1.5,0,2\n-3,1,4e1\n");
  CsvOptions opt;
  opt.label_column = "label";
  const CsvImport csv = read_csv(dir.file("a.csv"), opt);
  EXPECT_FALSE(csv.test.has_value());
  const auto& a = csv.train;
  EXPECT_EQ(a.num_samples(), 2);
  EXPECT_EQ(a.sample_shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(a.feature_type, FeatureType::kFloat32);
  EXPECT_EQ(a.features_f32, (std::vector<float>{1.5f, 2.0f, -3.0f, 40.0f}));
  EXPECT_EQ(a.labels, (std::vector<int32_t>{0, 1}));
  EXPECT_TRUE(a.class_names.empty());
}

TEST(Csv, NoHeaderLabelByIndexAndDefaultLast) {
  TempFolder dir;
  write_text(dir.file("b.csv"), "2,1.0,2.0\n0,3.0,4.0\n");
  CsvOptions opt;
  opt.has_header = false;
  opt.label_column = "0";
  const auto a = read_csv(dir.file("b.csv"), opt).train;
  EXPECT_EQ(a.features_f32, (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(a.labels, (std::vector<int32_t>{2, 0}));
  opt.label_column = "";  // the last column; integral floats are class ids
  const auto last = read_csv(dir.file("b.csv"), opt).train;
  EXPECT_EQ(last.features_f32, (std::vector<float>{2, 1, 0, 3}));
  EXPECT_EQ(last.labels, (std::vector<int32_t>{2, 4}));
  write_text(dir.file("c.csv"), "1,2,0.5\n");
  EXPECT_TRUE(contains_all(error_of([&] { read_csv(dir.file("c.csv"), opt); }),
                           {"c.csv:1", "label column 'column 2'", "'0.5'", "regression"}));
}

TEST(Csv, StringClassesQuotingCrlfAndBlankLines) {
  TempFolder dir;
  write_text(dir.file("iris.csv"),
             "sepal;\"petal \"\"w\"\"\";species\r\n"
             "1;2;setosa\r\n"
             "3;\"4.5\";\"vers;icolor\"\r\n"
             "\r\n"
             "5;6;setosa\r\n"
             "\r\n\n");
  CsvOptions opt;
  opt.delimiter = ';';
  opt.label_column = "species";
  const auto a = read_csv(dir.file("iris.csv"), opt).train;
  EXPECT_EQ(a.num_samples(), 3);
  EXPECT_EQ(a.features_f32, (std::vector<float>{1, 2, 3, 4.5f, 5, 6}));
  EXPECT_EQ(a.labels, (std::vector<int32_t>{0, 1, 0}));
  EXPECT_EQ(a.class_names, (std::vector<std::string>{"setosa", "vers;icolor"}));
  opt.label_column = "petal \"w\"";
  EXPECT_TRUE(contains_all(error_of([&] { read_csv(dir.file("iris.csv"), opt); }),
                           {"iris.csv:2", "column 'species'", "'setosa' is not a finite number"}));
}

TEST(Csv, Regression) {
  TempFolder dir;
  write_text(dir.file("r.csv"), "a,b,y\n1,2,0.5\n3,4,-1.25\n");
  CsvOptions opt;
  opt.regression = true;
  const auto a = read_csv(dir.file("r.csv"), opt).train;
  EXPECT_EQ(a.label_kind, LabelKind::kTargets);
  EXPECT_EQ(a.target_dim, 1);
  EXPECT_EQ(a.targets, (std::vector<float>{0.5f, -1.25f}));
  const DatasetSpec spec{dir.file("r.h5")};
  write_dataset(spec, a);
  EXPECT_EQ(probe_dataset(spec).label_kind, LabelKind::kTargets);
}

void write_gzip(const std::string& path, const std::string& text) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, text.data(), static_cast<unsigned>(text.size())),
            static_cast<int>(text.size()));
  gzclose(f);
}

TEST(Csv, TargetsFromASeparateGzippedFile) {
  TempFolder dir;
  write_gzip(dir.file("x.csv.gz"), "1 2 3\n4 5 6\n7 8 9\n");
  write_text(dir.file("y.csv"), "0.5 1\n1.5 2\n2.5 3\n");
  CsvOptions opt;
  opt.has_header = false;
  opt.delimiter = ' ';
  opt.regression = true;
  opt.targets_path = dir.file("y.csv");
  const auto a = read_csv(dir.file("x.csv.gz"), opt).train;
  EXPECT_EQ(a.sample_shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(a.features_f32, (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(a.target_dim, 2);
  EXPECT_EQ(a.targets, (std::vector<float>{0.5f, 1, 1.5f, 2, 2.5f, 3}));

  write_text(dir.file("ids.csv"), "2\n0\n1\n");
  opt.regression = false;
  opt.targets_path = dir.file("ids.csv");
  const auto c = read_csv(dir.file("x.csv.gz"), opt).train;
  EXPECT_EQ(c.label_kind, LabelKind::kClassIds);
  EXPECT_EQ(c.labels, (std::vector<int32_t>{2, 0, 1}));

  write_text(dir.file("short.csv"), "1\n2\n");
  opt.targets_path = dir.file("short.csv");
  EXPECT_TRUE(contains_all(error_of([&] { read_csv(dir.file("x.csv.gz"), opt); }),
                           {"short.csv", "has 2 rows", "x.csv.gz", "has 3"}));
  opt.targets_path = dir.file("y.csv");
  EXPECT_TRUE(contains_all(error_of([&] { read_csv(dir.file("x.csv.gz"), opt); }),
                           {"y.csv", "2 columns", "expected 1 column of class ids"}));
  write_text(dir.file("half.csv"), "1\n0.5\n2\n");
  opt.targets_path = dir.file("half.csv");
  EXPECT_TRUE(contains_all(error_of([&] { read_csv(dir.file("x.csv.gz"), opt); }),
                           {"half.csv:2", "'0.5' is not a class id"}));
  opt.label_column = "1";
  EXPECT_TRUE(contains_all(error_of([&] { read_csv(dir.file("x.csv.gz"), opt); }),
                           {"a label column ('1') and a targets file", "expected one of them"}));
}

TEST(Csv, FeaturesOnlyWithOrWithoutHeader) {
  TempFolder dir;
  write_text(dir.file("h.csv"), "a,b\n1,2\n3,4\n");
  auto a = read_csv_features(dir.file("h.csv"));
  EXPECT_EQ(a.sample_shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(a.features_f32, (std::vector<float>{1, 2, 3, 4}));
  EXPECT_TRUE(a.labels.empty() && a.targets.empty());
  write_text(dir.file("n.csv"), "1;2\n3;4\n5;6\n");
  a = read_csv_features(dir.file("n.csv"), ';');
  EXPECT_EQ(a.num_samples(), 3);
  EXPECT_EQ(a.features_f32, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  write_text(dir.file("bad.csv"), "a,b\n1,2\n3,zz\n");
  EXPECT_TRUE(contains_all(error_of([&] { read_csv_features(dir.file("bad.csv")); }),
                           {"bad.csv:3", "column 'b'", "'zz'"}));
}

TEST(Csv, Errors) {
  TempFolder dir;
  write_text(dir.file("e.csv"), "a,b,label\n1,2,0\n3,x7,1\n");
  CsvOptions opt;
  EXPECT_TRUE(contains_all(error_of([&] { read_csv(dir.file("e.csv"), opt); }),
                           {"e.csv:3", "column 'b'", "'x7'"}));
  opt.label_column = "target";
  EXPECT_TRUE(contains_all(error_of([&] { read_csv(dir.file("e.csv"), opt); }),
                           {"e.csv", "label column 'target' not found", "a, b, label"}));
  opt.label_column = "3";
  EXPECT_TRUE(contains_all(error_of([&] { read_csv(dir.file("e.csv"), opt); }), {"'3' not found"}));

  write_text(dir.file("f.csv"), "a,b,label\n1,2,0\n3,1\n");
  EXPECT_TRUE(contains_all(error_of([&] { read_csv(dir.file("f.csv"), CsvOptions{}); }),
                           {"f.csv:3", "found 2 fields", "expected 3"}));
  write_text(dir.file("g.csv"), "a,label\n1,0.5\n2,1\n");
  EXPECT_TRUE(contains_all(error_of([&] { read_csv(dir.file("g.csv"), CsvOptions{}); }),
                           {"g.csv:2", "'0.5' is not an integer class id", "regression"}));
  write_text(dir.file("h.csv"), "a,label\n1,0\n2,-1\n");
  EXPECT_TRUE(contains_all(error_of([&] { read_csv(dir.file("h.csv"), CsvOptions{}); }),
                           {"h.csv:3", "class id -1"}));
  write_text(dir.file("i.csv"), "a,label\n\n");
  EXPECT_TRUE(contains_all(error_of([&] { read_csv(dir.file("i.csv"), CsvOptions{}); }),
                           {"i.csv", "no data rows"}));
  EXPECT_TRUE(contains_all(error_of([&] { read_csv(dir.file("none.csv"), CsvOptions{}); }),
                           {"none.csv", "no such file"}));
}

std::string numbered_csv(int n) {
  std::string text = "id,label\n";
  for (int i = 0; i < n; ++i) text += std::to_string(i) + "," + std::to_string(i % 3) + "\n";
  return text;
}

std::vector<int> ids_of(const DatasetArrays& a) {
  return {a.features_f32.begin(), a.features_f32.end()};
}

TEST(Csv, SplitSizesDeterminismDisjointness) {
  TempFolder dir;
  write_text(dir.file("n.csv"), numbered_csv(100));
  CsvOptions opt;
  opt.test_fraction = 0.2;
  opt.seed = 11;
  const CsvImport a = read_csv(dir.file("n.csv"), opt);
  ASSERT_TRUE(a.test.has_value());
  EXPECT_EQ(a.train.num_samples(), 80);
  EXPECT_EQ(a.test->num_samples(), 20);
  const auto train = ids_of(a.train);
  const auto test = ids_of(*a.test);
  EXPECT_TRUE(std::is_sorted(train.begin(), train.end()));  // file order kept
  EXPECT_TRUE(std::is_sorted(test.begin(), test.end()));
  std::set<int> all(train.begin(), train.end());
  for (int id : test) EXPECT_TRUE(all.insert(id).second) << "row " << id << " in both parts";
  EXPECT_EQ(all.size(), 100u);
  for (size_t i = 0; i < test.size(); ++i) {
    EXPECT_EQ(a.test->labels[i], test[i] % 3);  // labels travel with their rows
  }

  const CsvImport again = read_csv(dir.file("n.csv"), opt);
  EXPECT_EQ(ids_of(*again.test), test);
  opt.seed = 12;
  EXPECT_NE(ids_of(*read_csv(dir.file("n.csv"), opt).test), test);

  opt.test_fraction = 0.001;  // rounds to 0: still one test row
  EXPECT_EQ(read_csv(dir.file("n.csv"), opt).test->num_samples(), 1);
  write_text(dir.file("one.csv"), numbered_csv(1));
  opt.test_fraction = 0.5;
  EXPECT_TRUE(contains_all(error_of([&] { read_csv(dir.file("one.csv"), opt); }),
                           {"one.csv", "no training rows"}));
  opt.test_fraction = 1.0;
  EXPECT_TRUE(contains_all(error_of([&] { read_csv(dir.file("n.csv"), opt); }),
                           {"test fraction 1", "< 1"}));
}

TEST(Csv, SplitKeepsClassNamesInBothParts) {
  TempFolder dir;
  write_text(dir.file("s.csv"), "v,c\n1,cat\n2,dog\n3,cat\n4,bird\n5,dog\n");
  CsvOptions opt;
  opt.test_fraction = 0.4;
  const CsvImport a = read_csv(dir.file("s.csv"), opt);
  const std::vector<std::string> names{"cat", "dog", "bird"};
  EXPECT_EQ(a.train.class_names, names);
  EXPECT_EQ(a.test->class_names, names);
  EXPECT_EQ(a.train.num_samples() + a.test->num_samples(), 5);
  EXPECT_EQ(a.test->num_samples(), 2);
}

}  // namespace
}  // namespace lockstep::io
