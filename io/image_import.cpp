// lockstep import images (image_import.hpp): the folder walk, the parallel
// block decode (overlapped with the previous block's write) and the checks; decoding and resizing
// live in image_codec.cpp, the block writer in dataset_writer.cpp.

#include "io/image_import.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "io/dataset_writer.hpp"
#include "io/image_codec.hpp"

namespace lockstep::io {

namespace fs = std::filesystem;

namespace {

struct Item {
  std::string image;
  std::string mask;   // segmentation
  int32_t label = 0;  // classification
};

std::vector<std::string> image_files(const fs::path& dir) {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && is_image_file(e.path().string())) files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<std::string> read_classes_txt(const fs::path& path) {
  std::ifstream in(path);
  LOCKSTEP_CHECK(in.good(), "classes file '" << path.string() << "': cannot open it");
  std::vector<std::string> names;
  std::vector<bool> seen;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos || line[0] == '#') continue;
    std::istringstream ls(line);
    int64_t id = -1;
    std::string name;
    ls >> id;
    std::getline(ls >> std::ws, name);
    LOCKSTEP_CHECK(!ls.bad() && id >= 0 && id < 65536 && !name.empty(),
                   "classes file '" << path.string() << "' line " << number << ": '" << line
                                    << "'; expected \"ID NAME\" with 0 <= ID < 65536");
    if (names.size() <= static_cast<size_t>(id)) {
      names.resize(static_cast<size_t>(id) + 1);
      seen.resize(static_cast<size_t>(id) + 1, false);
    }
    LOCKSTEP_CHECK(!seen[static_cast<size_t>(id)], "classes file '" << path.string() << "' line "
                                                                    << number << ": class id " << id
                                                                    << " named twice");
    seen[static_cast<size_t>(id)] = true;
    names[static_cast<size_t>(id)] = name;
  }
  for (size_t i = 0; i < names.size(); ++i)
    LOCKSTEP_CHECK(seen[i], "classes file '" << path.string() << "': class id " << i
                                             << " has no name; expected ids 0.." << names.size() - 1
                                             << " each on one line");
  LOCKSTEP_CHECK(!names.empty(),
                 "classes file '" << path.string() << "': no classes; expected \"ID NAME\" lines");
  return names;
}

// The items of `root` and the class names.
std::vector<Item> list_items(const ImageImportOptions& o, bool& segmentation,
                             std::vector<std::string>& names) {
  const fs::path root(o.root);
  std::error_code ec;
  LOCKSTEP_CHECK(fs::is_directory(root, ec), "import images: '" << o.root
                                                                << "' is not a folder; expected "
                                                                   "a folder of images");
  std::vector<Item> items;
  segmentation = fs::is_directory(root / "images", ec);
  if (segmentation) {
    LOCKSTEP_CHECK(fs::is_directory(root / "masks", ec),
                   "import images: '" << (root / "images").string() << "' exists but '"
                                      << (root / "masks").string()
                                      << "' does not; expected images/ and masks/ side by side");
    for (const auto& image : image_files(root / "images")) {
      const fs::path mask = root / "masks" / (fs::path(image).stem().string() + ".png");
      LOCKSTEP_CHECK(fs::is_regular_file(mask, ec),
                     "image file '" << image << "': no mask; expected '" << mask.string() << "'");
      items.push_back({image, mask.string(), 0});
    }
    if (fs::exists(root / "classes.txt", ec)) names = read_classes_txt(root / "classes.txt");
  } else {
    for (const auto& e : fs::directory_iterator(root))
      if (e.is_directory()) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    LOCKSTEP_CHECK(!names.empty(), "import images: '"
                                       << o.root
                                       << "' has no sub-folders; expected one folder of images "
                                          "per class, or images/ and masks/ folders");
    for (size_t k = 0; k < names.size(); ++k)
      for (const auto& image : image_files(root / names[k]))
        items.push_back({image, "", static_cast<int32_t>(k)});
  }
  LOCKSTEP_CHECK(!items.empty(), "import images: no .png, .jpg or .jpeg files under '"
                                     << o.root << "'"
                                     << (segmentation ? " images/" : " (in class folders)"));
  return items;
}

struct Geometry {
  int64_t channels, height, width;
  std::string first;  // the file the size comes from (no --size)
};

std::string hw(int64_t h, int64_t w) {
  return std::to_string(h) + "x" + std::to_string(w);
}

// Decodes `item` into `pixels` (C*H*W) and `ids` (H*W, segmentation).
int32_t decode_item(const ImageImportOptions& o, const Geometry& g, int64_t classes,
                    const Item& item, uint8_t* pixels, int32_t* ids) {
  Image image = decode_image(item.image, read_file_bytes(item.image), g.channels);
  const bool sized = o.height > 0;
  if (!sized) {
    LOCKSTEP_CHECK(image.height == g.height && image.width == g.width,
                   "image file '" << item.image << "': " << hw(image.height, image.width)
                                  << " pixels (HxW); expected " << hw(g.height, g.width)
                                  << " like '" << g.first
                                  << "' (every image the same size), or give --size HxW");
  } else if (o.crop) {
    LOCKSTEP_CHECK(image.height >= g.height && image.width >= g.width,
                   "image file '" << item.image << "': " << hw(image.height, image.width)
                                  << " pixels (HxW); expected at least " << hw(g.height, g.width)
                                  << " to --crop");
  }
  int32_t max_id = -1;
  if (!item.mask.empty()) {
    Mask mask = decode_mask(item.mask, read_file_bytes(item.mask));
    LOCKSTEP_CHECK(mask.height == image.height && mask.width == image.width,
                   "mask file '" << item.mask << "': " << hw(mask.height, mask.width)
                                 << " pixels (HxW); expected " << hw(image.height, image.width)
                                 << " like its image '" << item.image << "'");
    // Checked in the file's own pixel coordinates, before any resize.
    for (size_t i = 0; i < mask.ids.size(); ++i) {
      const int32_t v = mask.ids[i];
      if (o.ignore_index && v == *o.ignore_index) continue;
      LOCKSTEP_CHECK(classes <= 0 || v < classes,
                     "mask file '"
                         << item.mask << "': pixel (y " << static_cast<int64_t>(i) / mask.width
                         << ", x " << static_cast<int64_t>(i) % mask.width << ") has class id " << v
                         << "; expected 0 <= id < " << classes
                         << (o.ignore_index
                                 ? " or the ignore index " + std::to_string(*o.ignore_index)
                                 : std::string()));
    }
    if (sized)
      mask =
          o.crop ? crop_center(mask, g.height, g.width) : resize_nearest(mask, g.height, g.width);
    for (const int32_t v : mask.ids)
      if (!o.ignore_index || v != *o.ignore_index) max_id = std::max(max_id, v);
    std::copy(mask.ids.begin(), mask.ids.end(), ids);
  } else {
    *ids = item.label;
    max_id = item.label;
  }
  if (sized)
    image =
        o.crop ? crop_center(image, g.height, g.width) : resize_bilinear(image, g.height, g.width);
  std::copy(image.pixels.begin(), image.pixels.end(), pixels);
  return max_id;
}

}  // namespace

std::pair<int64_t, int64_t> parse_size(const std::string& text) {
  const auto x = text.find('x');
  int64_t h = 0, w = 0;
  try {
    size_t a = 0, b = 0;
    h = std::stoll(text.substr(0, x), &a);
    w = x == std::string::npos ? 0 : std::stoll(text.substr(x + 1), &b);
    if (a != x || b != text.size() - x - 1) h = 0;
  } catch (const std::exception&) {
    h = 0;
  }
  LOCKSTEP_CHECK(h > 0 && w > 0,
                 "--size '" << text << "': expected HxW with positive sizes, e.g. 64x64");
  return {h, w};
}

ImageImportReport import_images(const ImageImportOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  ImageImportReport report;
  std::vector<Item> items = list_items(o, report.segmentation, report.class_names);
  if (o.shuffle) {
    Rng rng(hash_keys({o.seed, 0x1A6E5ull}));
    for (size_t i = items.size(); i > 1; --i)
      std::swap(items[i - 1], items[static_cast<size_t>(rng.below(i))]);
  }
  const int64_t classes =
      o.classes > 0 ? o.classes : static_cast<int64_t>(report.class_names.size());
  LOCKSTEP_CHECK(o.classes <= 0 || report.class_names.empty() ||
                     o.classes == static_cast<int64_t>(report.class_names.size()),
                 "import images: --classes " << o.classes << " but '" << o.root << "' names "
                                             << report.class_names.size()
                                             << " classes; expected the same count");
  Geometry g{o.channels, o.height, o.width, items[0].image};
  {
    const auto bytes = read_file_bytes(items[0].image);
    if (g.channels == 0) g.channels = native_channels(items[0].image, bytes);
    if (g.height == 0) {
      const Image first = decode_image(items[0].image, bytes, g.channels);
      g.height = first.height;
      g.width = first.width;
    }
  }
  ImageDatasetSchema schema;
  schema.num_samples = static_cast<int64_t>(items.size());
  schema.sample_shape = {g.channels, g.height, g.width};
  if (report.segmentation) schema.label_shape = {g.height, g.width};
  schema.class_names = report.class_names;
  schema.ignore_index = report.segmentation ? o.ignore_index : std::nullopt;
  schema.text_attributes = {{"generator", "lockstep import images"}};
  const int threads = o.threads > 0
                          ? o.threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  report.threads = threads;
  schema.threads = threads;
  schema.chunk_bytes = o.chunk_bytes;
  schema.gzip = o.gzip;
  const int64_t block = rows_per_block(schema, o.block_bytes);
  const auto sample = static_cast<size_t>(g.channels * g.height * g.width);
  const auto label = static_cast<size_t>(report.segmentation ? g.height * g.width : 1);
  std::atomic<int32_t> max_id{-1};
  DatasetSpec spec;
  spec.path = o.out;
  // Two buffers: block k is compressed and written on a second thread while
  // block k + 1 is decoded (HDF5 is only ever called by one thread at a time).
  write_image_dataset(spec, schema, [&](RowSink& sink) {
    std::vector<uint8_t> pixel_buffers[2];
    std::vector<int32_t> id_buffers[2];
    std::future<void> writing;
    for (int64_t begin = 0, k = 0; begin < schema.num_samples; begin += block, ++k) {
      const int64_t count = std::min(block, schema.num_samples - begin);
      std::vector<uint8_t>& pixels = pixel_buffers[k % 2];
      std::vector<int32_t>& ids = id_buffers[k % 2];
      pixels.resize(static_cast<size_t>(block) * sample);
      ids.resize(static_cast<size_t>(block) * label);
      std::vector<std::exception_ptr> errors(static_cast<size_t>(count));
      std::atomic<int64_t> next{0};
      auto work = [&] {
        int32_t local = -1;
        for (int64_t r; (r = next++) < count;) {
          try {
            local =
                std::max(local, decode_item(o, g, classes, items[static_cast<size_t>(begin + r)],
                                            pixels.data() + static_cast<size_t>(r) * sample,
                                            ids.data() + static_cast<size_t>(r) * label));
          } catch (...) {
            errors[static_cast<size_t>(r)] = std::current_exception();
          }
        }
        int32_t seen = max_id.load();
        while (local > seen && !max_id.compare_exchange_weak(seen, local)) {
        }
      };
      std::vector<std::thread> pool;
      for (int t = 1; t < std::min<int64_t>(threads, count); ++t) pool.emplace_back(work);
      work();
      for (auto& t : pool) t.join();
      for (const auto& e : errors)
        if (e) std::rethrow_exception(e);  // the first failing row of the block
      if (writing.valid()) writing.get();  // block k - 1, whose buffers block k + 1 reuses
      writing = std::async(std::launch::async, [&sink, begin, count, &pixels, &ids] {
        sink.write(begin, count, pixels.data(), ids.data());
      });
    }
    if (writing.valid()) writing.get();
  });
  report.images = schema.num_samples;
  report.sample_shape = schema.sample_shape;
  report.max_id = max_id.load();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace lockstep::io
