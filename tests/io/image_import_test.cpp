// lockstep import images: class folders and image/mask pairs of PNG and JPEG
// files written here with libpng and TurboJPEG; the imported pixels and labels
// equal the written ones (PNG exactly, JPEG within its loss); resizing is
// bilinear for images and nearest for masks; the rows are a seeded shuffle;
// every error names the file. Plus the codecs' building blocks.

#include <png.h>
#include <turbojpeg.h>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <map>

#include "io/dataset.hpp"
#include "io/image_codec.hpp"
#include "io/image_import.hpp"
#include "tests/io/io_test_util.hpp"

namespace lockstep::io {
namespace {

namespace fs = std::filesystem;
using test::contains_all;
using test::error_of;
using test::TempFolder;

// Interleaved pixels (H, W, C) of a test image: a function of (seed, y, x, c).
std::vector<uint8_t> pattern(int seed, int h, int w, int c) {
  std::vector<uint8_t> p(static_cast<size_t>(h * w * c));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int ch = 0; ch < c; ++ch)
        p[static_cast<size_t>((y * w + x) * c + ch)] =
            static_cast<uint8_t>((seed * 40 + y * 8 + x * 3 + ch * 50) % 256);
  return p;
}

void write_png(const std::string& path, int h, int w, int c, const std::vector<uint8_t>& pixels) {
  fs::create_directories(fs::path(path).parent_path());
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(w);
  image.height = static_cast<png_uint_32>(h);
  image.format = c == 1 ? PNG_FORMAT_GRAY : c == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
  ASSERT_TRUE(png_image_write_to_file(&image, path.c_str(), 0, pixels.data(), 0, nullptr))
      << image.message;
}

void write_jpeg(const std::string& path, int h, int w, const std::vector<uint8_t>& rgb) {
  fs::create_directories(fs::path(path).parent_path());
  tjhandle tj = tjInitCompress();
  unsigned char* out = nullptr;
  unsigned long size = 0;
  ASSERT_EQ(tjCompress2(tj, rgb.data(), w, 0, h, TJPF_RGB, &out, &size, TJSAMP_444, 100, 0), 0);
  test::write_text(path, std::string(reinterpret_cast<const char*>(out), size));
  tjFree(out);
  tjDestroy(tj);
}

// A mask (H, W) with ids from `f`.
template <class F>
void write_mask(const std::string& path, int h, int w, F f) {
  std::vector<uint8_t> ids(static_cast<size_t>(h * w));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) ids[static_cast<size_t>(y * w + x)] = static_cast<uint8_t>(f(y, x));
  write_png(path, h, w, 1, ids);
}

struct Loaded {
  DatasetInfo info;
  std::vector<uint8_t> x;  // normalised back to bytes (scale 1)
  std::vector<int32_t> y;
};

Loaded load(const std::string& path) {
  Loaded l;
  const DatasetSpec spec{path};
  l.info = probe_dataset(spec);
  const Shard shard = Shard::load(spec, 0, l.info.num_samples);
  std::vector<int64_t> rows(static_cast<size_t>(l.info.num_samples));
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int64_t>(i);
  std::vector<float> x(rows.size() * static_cast<size_t>(l.info.sample_size()));
  Normalization raw;
  raw.scale = 1.0;
  shard.gather_features(rows, raw, x);
  l.x.assign(x.begin(), x.end());
  for (size_t i = 0; i < x.size(); ++i) l.x[i] = static_cast<uint8_t>(x[i]);
  l.y.resize(rows.size() * static_cast<size_t>(l.info.label_size()));
  shard.gather_labels(rows, l.y);
  return l;
}

ImageImportOptions options(const TempFolder& dir, const std::string& root) {
  ImageImportOptions o;
  o.root = dir.file(root);
  o.out = dir.file(root + ".h5");
  o.threads = 2;
  o.shuffle = false;  // errors then name the first bad file in sorted order
  return o;
}

TEST(ImportImages, ClassFoldersOfPngAndJpeg) {
  TempFolder dir;
  const std::map<std::string, int> per_class{{"cat", 3}, {"ant", 2}, {"dog", 4}};
  int seed = 0;
  std::map<int, std::pair<int, bool>> seeds;  // first byte -> (class id, jpeg)
  for (const auto& [name, count] : per_class) {
    for (int i = 0; i < count; ++i, ++seed) {
      const bool jpeg = i == 1;
      const auto p = pattern(seed, 8, 6, 3);
      const std::string file =
          dir.file("cls/" + name + "/" + std::to_string(i) + (jpeg ? ".JPG" : ".png"));
      if (jpeg) write_jpeg(file, 8, 6, p);
      if (!jpeg) write_png(file, 8, 6, 3, p);
    }
  }
  test::write_text(dir.file("cls/dog/notes.txt"), "not an image");
  ImageImportOptions o = options(dir, "cls");
  o.shuffle = true;
  const ImageImportReport r = import_images(o);
  EXPECT_FALSE(r.segmentation);
  EXPECT_EQ(r.images, 9);
  EXPECT_EQ(r.class_names, (std::vector<std::string>{"ant", "cat", "dog"}));
  const Loaded l = load(o.out);
  EXPECT_EQ(l.info.sample_shape, (std::vector<int64_t>{3, 8, 6}));
  EXPECT_EQ(l.info.class_names, r.class_names);
  EXPECT_FALSE(l.info.per_pixel());
  // Each row holds one written image (found by its pattern) with its class.
  std::vector<int> found(9, 0);
  for (int64_t row = 0; row < 9; ++row) {
    const uint8_t* px = l.x.data() + row * 144;
    int best = -1, best_err = 1 << 30;
    for (int s = 0; s < 9; ++s) {
      const auto p = pattern(s, 8, 6, 3);
      int err = 0;
      for (int i = 0; i < 48; ++i)
        for (int ch = 0; ch < 3; ++ch)
          err = std::max(err,
                         std::abs(int(px[ch * 48 + i]) - int(p[static_cast<size_t>(i * 3 + ch)])));
      if (err < best_err) best = s, best_err = err;
    }
    found[static_cast<size_t>(best)]++;
    const int cls = best < 2 ? 0 : best < 5 ? 1 : 2;  // ant: 0-1, cat: 2-4, dog: 5-8
    EXPECT_EQ(l.y[static_cast<size_t>(row)], cls) << "row " << row;
    const bool jpeg = best == 1 || best == 3 || best == 6;
    EXPECT_LE(best_err, jpeg ? 12 : 0) << "row " << row;
  }
  EXPECT_EQ(found, std::vector<int>(9, 1));
  // The rows are shuffled (class-sorted rows would shard classes across ranks), by seed.
  EXPECT_NE(l.y, (std::vector<int32_t>{0, 0, 1, 1, 1, 2, 2, 2, 2}));
  o.out = dir.file("again.h5");
  import_images(o);
  EXPECT_EQ(load(o.out).y, l.y);
  o.shuffle = false;
  o.out = dir.file("sorted.h5");
  import_images(o);
  EXPECT_EQ(load(o.out).y, (std::vector<int32_t>{0, 0, 1, 1, 1, 2, 2, 2, 2}));
}

TEST(ImportImages, ImageMaskPairsWithResizeAndClassesFile) {
  TempFolder dir;
  for (int i = 0; i < 5; ++i) {
    std::string name = "s";
    name += std::to_string(i);
    write_png(dir.file("seg/images/" + name + ".png"), 8, 8, 1, pattern(i, 8, 8, 1));
    write_mask(dir.file("seg/masks/" + name + ".png"), 8, 8,
               [&](int y, int x) { return (y / 4) * 2 + (x / 4 + i) % 2; });
  }
  test::write_text(dir.file("seg/classes.txt"), "# id name\n0 road\n1 car\n2 person\n3 sky\n");
  ImageImportOptions o = options(dir, "seg");
  o.shuffle = false;
  const ImageImportReport r = import_images(o);
  EXPECT_TRUE(r.segmentation);
  EXPECT_EQ(r.class_names, (std::vector<std::string>{"road", "car", "person", "sky"}));
  Loaded l = load(o.out);
  EXPECT_EQ(l.info.sample_shape, (std::vector<int64_t>{1, 8, 8}));
  EXPECT_EQ(l.info.label_shape, (std::vector<int64_t>{8, 8}));
  for (int i = 0; i < 5; ++i) {
    const auto p = pattern(i, 8, 8, 1);
    for (int j = 0; j < 64; ++j) {
      ASSERT_EQ(l.x[static_cast<size_t>(i * 64 + j)], p[static_cast<size_t>(j)]);
      ASSERT_EQ(l.y[static_cast<size_t>(i * 64 + j)], (j / 32) * 2 + (j % 8 / 4 + i) % 2);
    }
  }
  // Resized to 4x4: masks by nearest (ids stay ids), images bilinear (2x2 means).
  o.height = o.width = 4;
  o.out = dir.file("small.h5");
  import_images(o);
  l = load(o.out);
  for (int i = 0; i < 5; ++i) {
    const auto p = pattern(i, 8, 8, 1);
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 4; ++x) {
        EXPECT_EQ(l.y[static_cast<size_t>(i * 16 + y * 4 + x)], (y / 2) * 2 + (x / 2 + i) % 2);
        const int mean = (p[static_cast<size_t>(2 * y * 8 + 2 * x)] +
                          p[static_cast<size_t>(2 * y * 8 + 2 * x + 1)] +
                          p[static_cast<size_t>((2 * y + 1) * 8 + 2 * x)] +
                          p[static_cast<size_t>((2 * y + 1) * 8 + 2 * x + 1)]);
        EXPECT_NEAR(l.x[static_cast<size_t>(i * 16 + y * 4 + x)], mean / 4.0, 1.0);
      }
  }
  // --crop: the centred window.
  o.crop = true;
  o.height = o.width = 4;
  o.out = dir.file("crop.h5");
  import_images(o);
  l = load(o.out);
  EXPECT_EQ(l.x[0], pattern(0, 8, 8, 1)[2 * 8 + 2]);
  EXPECT_EQ(l.y[0], 0 * 2 + (0 + 0) % 2);
}

TEST(ImportImages, ErrorsNameTheFile) {
  TempFolder dir;
  const auto seg = [&](const std::string& root) {
    for (int i = 0; i < 3; ++i) {
      std::string name = "m";
      name += std::to_string(i);
      write_png(dir.file(root + "/images/" + name + ".png"), 6, 6, 3, pattern(i, 6, 6, 3));
      write_mask(dir.file(root + "/masks/" + name + ".png"), 6, 6,
                 [](int y, int) { return y % 3; });
    }
  };
  // Undecodable image.
  write_png(dir.file("a/x/ok.png"), 6, 6, 3, pattern(0, 6, 6, 3));
  test::write_text(dir.file("a/x/broken.png"), "\x89PNG\r\n\x1a\n garbage");
  EXPECT_TRUE(contains_all(error_of([&] { import_images(options(dir, "a")); }),
                           {"broken.png", "cannot decode the PNG"}));
  test::write_text(dir.file("a/x/broken.png"), "hello");
  EXPECT_TRUE(contains_all(error_of([&] { import_images(options(dir, "a")); }),
                           {"broken.png", "not a PNG or JPEG"}));
  fs::remove(dir.file("a/x/broken.png"));
  // Another size without --size.
  write_png(dir.file("a/y/big.png"), 7, 6, 3, pattern(0, 7, 6, 3));
  EXPECT_TRUE(contains_all(error_of([&] { import_images(options(dir, "a")); }),
                           {"big.png", "7x6", "expected 6x6", "--size"}));
  // Missing mask.
  seg("b");
  fs::remove(dir.file("b/masks/m1.png"));
  EXPECT_TRUE(contains_all(error_of([&] { import_images(options(dir, "b")); }),
                           {"m1.png", "no mask", "masks/m1.png"}));
  // Mask and image disagree in size.
  seg("c");
  write_mask(dir.file("c/masks/m2.png"), 5, 6, [](int, int) { return 0; });
  EXPECT_TRUE(contains_all(error_of([&] { import_images(options(dir, "c")); }),
                           {"masks/m2.png", "5x6", "expected 6x6", "images/m2.png"}));
  // A mask value outside the classes (classes.txt: 2 classes), unless ignored.
  seg("d");
  test::write_text(dir.file("d/classes.txt"), "0 background\n1 thing\n");
  EXPECT_TRUE(contains_all(error_of([&] { import_images(options(dir, "d")); }),
                           {"masks/m0.png", "y 2, x 0", "class id 2", "0 <= id < 2"}));
  // An RGB mask.
  seg("e");
  write_png(dir.file("e/masks/m0.png"), 6, 6, 3, pattern(0, 6, 6, 3));
  EXPECT_TRUE(contains_all(error_of([&] { import_images(options(dir, "e")); }),
                           {"masks/m0.png", "RGB", "grayscale or palette"}));
  // --crop larger than an image; neither layout.
  ImageImportOptions o = options(dir, "c");
  write_mask(dir.file("c/masks/m2.png"), 6, 6, [](int, int) { return 0; });
  o.crop = true;
  o.height = o.width = 9;
  EXPECT_TRUE(contains_all(error_of([&] { import_images(o); }), {"images/m0.png", "at least 9x9"}));
  fs::create_directories(dir.file("empty"));
  EXPECT_TRUE(contains_all(error_of([&] { import_images(options(dir, "empty")); }),
                           {"empty", "no sub-folders"}));
}

TEST(ImportImages, ParseSizeAndBlocksSmallerThanTheData) {
  EXPECT_EQ(parse_size("64x32"), (std::pair<int64_t, int64_t>{64, 32}));
  for (const char* bad : {"64", "x3", "3x", "0x4", "4x4x4", "ax4"})
    EXPECT_TRUE(contains_all(error_of([&] { parse_size(bad); }), {bad, "HxW"})) << bad;
  TempFolder dir;
  for (int i = 0; i < 23; ++i)
    write_png(dir.file("many/" + std::string(i % 2 ? "b" : "a") + "/" + std::to_string(i) + ".png"),
              4, 4, 3, pattern(i, 4, 4, 3));
  ImageImportOptions o = options(dir, "many");
  o.block_bytes = 5 * 48;  // 5 rows per block: 5 blocks, the last partial
  o.shuffle = false;
  // Blocks smaller than a chunk (HDF5's filter), then blocks of whole chunks
  // of 2 rows compressed on 2 threads (H5Dwrite_chunk), the last chunk partial.
  import_images(o);
  o.out = dir.file("chunks.h5");
  o.chunk_bytes = 2 * 48;
  o.block_bytes = 6 * 52;
  import_images(o);
  const Loaded l = load(o.out);
  EXPECT_EQ(load(dir.file("many.h5")).x, l.x);
  EXPECT_EQ(load(dir.file("many.h5")).y, l.y);
  ASSERT_EQ(l.info.num_samples, 23);
  int row = 0;
  for (int cls = 0; cls < 2; ++cls)
    for (const std::string name :
         {"0", "10", "12", "14", "16", "18", "2",  "20", "22", "4", "6", "8",
          "1", "11", "13", "15", "17", "19", "21", "3",  "5",  "7", "9"}) {
      const int i = std::stoi(name);
      if (i % 2 != cls) continue;
      const auto p = pattern(i, 4, 4, 3);
      EXPECT_EQ(l.x[static_cast<size_t>(row * 48 + 16)], p[1]) << name;  // channel 1, pixel 0
      EXPECT_EQ(l.y[static_cast<size_t>(row)], cls);
      ++row;
    }
}

}  // namespace
}  // namespace lockstep::io
