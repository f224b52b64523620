// lockstep import idx | import csv, and lockstep inspect: single-process data tools.

#include <boost/program_options.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <tuple>

#include "core/error.hpp"
#include "io/datagen.hpp"
#include "io/datagen_seg.hpp"
#include "io/image_import.hpp"
#include "io/importers.hpp"
#include "io/inspect.hpp"
#include "launch/commands.hpp"

namespace po = boost::program_options;

namespace lockstep::launch {

namespace {

// Parses argv against desc; returns false after printing help.
bool parse(int argc, char** argv, const po::options_description& desc, po::variables_map& vm,
           const char* command, const po::positional_options_description* positional = nullptr) {
  try {
    po::command_line_parser parser(argc, argv);
    parser.options(desc);
    if (positional) parser.positional(*positional);
    po::store(parser.run(), vm);
  } catch (const po::error& e) {
    throw Error(std::string(command) + ": " + e.what() + " (see lockstep " + command + " --help)");
  }
  if (vm.count("help")) {
    std::cout << desc << std::endl;
    return false;
  }
  return true;
}

std::string required(const po::variables_map& vm, const char* key, const char* command) {
  if (!vm.count(key))
    throw Error(std::string(command) + ": expected --" + key + " (see lockstep " + command +
                " --help)");
  return vm[key].as<std::string>();
}

void report(const std::string& path, const io::DatasetArrays& a) {
  std::printf("wrote %s: %lld samples, sample shape", path.c_str(),
              static_cast<long long>(a.num_samples()));
  for (int64_t d : a.sample_shape) std::printf(" %lld", static_cast<long long>(d));
  std::printf(", %s\n", a.label_kind == io::LabelKind::kClassIds ? "class ids" : "float targets");
}

int import_idx(int argc, char** argv) {
  po::options_description desc(
      "lockstep import idx: MNIST / Fashion-MNIST IDX files (gzipped or not) to HDF5\n\n"
      "Usage: lockstep import idx --images X-images-idx3-ubyte.gz --labels X-labels-idx1-ubyte.gz "
      "--out X.h5\n\nOptions");
  desc.add_options()("help,h", "show this help")("images", po::value<std::string>(),
                                                 "IDX images file")(
      "labels", po::value<std::string>(), "IDX labels file")("out,o", po::value<std::string>(),
                                                             "output HDF5 file");
  po::variables_map vm;
  if (!parse(argc, argv, desc, vm, "import idx")) return 0;
  const auto arrays =
      io::read_idx(required(vm, "images", "import idx"), required(vm, "labels", "import idx"));
  io::DatasetSpec spec;
  spec.path = required(vm, "out", "import idx");
  io::write_dataset(spec, arrays);
  report(spec.path, arrays);
  return 0;
}

int import_csv(int argc, char** argv) {
  po::options_description desc(
      "lockstep import csv: a CSV table (numeric feature columns, one label column) to HDF5\n\n"
      "Usage: lockstep import csv --input data.csv --out train.h5 [--label-column NAME|INDEX]\n"
      "       [--targets targets.csv] (CSV files may be gzipped)\n"
      "       [--test-fraction 0.2 --test-out test.h5] [--regression] [--no-header]\n\nOptions");
  desc.add_options()("help,h", "show this help")("input,i", po::value<std::string>(), "CSV file")(
      "out,o", po::value<std::string>(), "output HDF5 file (the training part when splitting)")(
      "label-column", po::value<std::string>()->default_value(""),
      "label column: header name or 0-based index; default: the last column")(
      "no-header", "the first row is data, not column names")(
      "delimiter", po::value<char>()->default_value(','), "field delimiter")(
      "regression", "labels are float targets (N, k) instead of class ids")(
      "targets", po::value<std::string>(),
      "labels from this CSV file (same rows; all its columns are targets with --regression, "
      "else one column of class ids); every column of --input is then a feature")(
      "test-fraction", po::value<double>()->default_value(0.0),
      "fraction of rows split off into --test-out (seeded)")("test-out", po::value<std::string>(),
                                                             "output HDF5 file for the test split")(
      "seed", po::value<uint64_t>()->default_value(0), "seed of the split");
  po::variables_map vm;
  if (!parse(argc, argv, desc, vm, "import csv")) return 0;
  io::CsvOptions o;
  o.label_column = vm["label-column"].as<std::string>();
  o.has_header = !vm.count("no-header");
  o.delimiter = vm["delimiter"].as<char>();
  o.regression = vm.count("regression") > 0;
  if (vm.count("targets")) o.targets_path = vm["targets"].as<std::string>();
  o.test_fraction = vm["test-fraction"].as<double>();
  o.seed = vm["seed"].as<uint64_t>();
  if (o.test_fraction < 0 || o.test_fraction >= 1)
    throw Error("import csv: --test-fraction: expected a value in [0, 1), got " +
                std::to_string(o.test_fraction));
  if (o.test_fraction > 0 && !vm.count("test-out"))
    throw Error("import csv: --test-fraction needs --test-out FILE for the test split");
  const std::string input = required(vm, "input", "import csv");
  const std::string out = required(vm, "out", "import csv");
  const io::CsvImport imported = io::read_csv(input, o);
  io::DatasetSpec spec;
  spec.path = out;
  io::write_dataset(spec, imported.train);
  report(out, imported.train);
  if (imported.test) {
    spec.path = vm["test-out"].as<std::string>();
    io::write_dataset(spec, *imported.test);
    report(spec.path, *imported.test);
  }
  return 0;
}

int import_images(int argc, char** argv) {
  po::options_description desc(
      "lockstep import images: a folder of PNG/JPEG images to HDF5 (uint8 N,C,H,W)\n\n"
      "Usage: lockstep import images --input DIR --out FILE.h5 [--size HxW [--crop]]\n"
      "  DIR/CLASS/*.png|jpg        classification: one folder per class (names sorted)\n"
      "  DIR/images/NAME.png|jpg    segmentation: with DIR/masks/NAME.png (one class id\n"
      "  DIR/masks/NAME.png         per pixel) and an optional DIR/classes.txt (\"ID NAME\")\n\n"
      "Options");
  desc.add_options()("help,h", "show this help")("input,i", po::value<std::string>(), "the folder")(
      "out,o", po::value<std::string>(), "output HDF5 file")(
      "size", po::value<std::string>(),
      "HxW: resize every image (bilinear; masks nearest); without it all images must have "
      "the first one's size")("crop", "with --size: take the centred HxW window instead")(
      "channels", po::value<int64_t>()->default_value(0), "1 or 3; 0: from the first image")(
      "threads", po::value<int>()->default_value(0), "decoding threads; 0: the cores")(
      "classes", po::value<int64_t>()->default_value(0),
      "segmentation: mask ids must be below this (default: classes.txt's count, else unchecked)")(
      "ignore-index", po::value<int32_t>(),
      "segmentation: a mask value allowed beyond the classes (e.g. 255), stored as the labels' "
      "ignore_index")("no-shuffle", "keep the sorted file order (default: rows shuffled)")(
      "seed", po::value<uint64_t>()->default_value(0), "seed of the row order")(
      "gzip", po::value<int>()->default_value(1),
      "deflate level of the datasets, 0-9; 0: uncompressed (photos barely compress: 0 writes "
      "fastest)");
  po::variables_map vm;
  if (!parse(argc, argv, desc, vm, "import images")) return 0;
  io::ImageImportOptions o;
  o.root = required(vm, "input", "import images");
  o.out = required(vm, "out", "import images");
  if (vm.count("size")) std::tie(o.height, o.width) = io::parse_size(vm["size"].as<std::string>());
  o.crop = vm.count("crop") > 0;
  if (o.crop && o.height == 0) throw Error("import images: --crop needs --size HxW");
  o.channels = vm["channels"].as<int64_t>();
  if (o.channels != 0 && o.channels != 1 && o.channels != 3)
    throw Error("import images: --channels: expected 0, 1 or 3, got " + std::to_string(o.channels));
  o.threads = vm["threads"].as<int>();
  o.classes = vm["classes"].as<int64_t>();
  if (vm.count("ignore-index")) o.ignore_index = vm["ignore-index"].as<int32_t>();
  o.shuffle = !vm.count("no-shuffle");
  o.seed = vm["seed"].as<uint64_t>();
  o.gzip = vm["gzip"].as<int>();
  if (o.gzip < 0 || o.gzip > 9)
    throw Error("import images: --gzip: expected a level 0-9, got " + std::to_string(o.gzip));
  const io::ImageImportReport r = io::import_images(o);
  std::printf("wrote %s: %lld images, sample shape %lld %lld %lld, %s", o.out.c_str(),
              static_cast<long long>(r.images), static_cast<long long>(r.sample_shape[0]),
              static_cast<long long>(r.sample_shape[1]), static_cast<long long>(r.sample_shape[2]),
              r.segmentation ? "class ids per pixel" : "class ids");
  if (!r.class_names.empty()) std::printf(", %zu classes", r.class_names.size());
  std::printf(" (largest id %d)\n", r.max_id);
  std::printf("decoded %.0f images/s (%lld images in %.2f s, %d threads)\n",
              static_cast<double>(r.images) / std::max(r.seconds, 1e-9),
              static_cast<long long>(r.images), r.seconds, r.threads);
  return 0;
}

int datagen_dense(const po::variables_map& vm, const std::string& task) {
  io::SegDatagenOptions o;
  o.task = task == "road" ? io::SegTask::kRoad : io::SegTask::kSegmentation;
  o.path = required(vm, "out", "datagen");
  o.samples = vm["samples"].as<int64_t>();
  const auto shape = io::parse_shape(vm["shape"].as<std::string>());
  if (shape[0] != 3)
    throw Error("datagen --task " + task + ": --shape " + vm["shape"].as<std::string>() +
                ": expected 3 channels (3xHxW)");
  o.height = shape[1];
  o.width = shape[2];
  o.seed = vm["seed"].as<uint64_t>();
  o.noise = vm["noise"].defaulted() ? 0.04 : vm["noise"].as<double>();
  const std::string items = vm["items"].as<std::string>();
  const auto dash = items.find('-');
  try {
    o.min_items = std::stoll(items.substr(0, dash));
    o.max_items = dash == std::string::npos ? o.min_items : std::stoll(items.substr(dash + 1));
  } catch (const std::exception&) {
    throw Error("datagen: --items '" + items + "': expected MIN-MAX, e.g. 2-4");
  }
  const std::string dir = vm["fashion-dir"].as<std::string>();
  const auto write = [&](const std::string& split, int64_t samples, uint64_t seed,
                         const std::string& path) {
    o.fashion_images = dir + "/" + split + "-images-idx3-ubyte.gz";
    o.fashion_labels = dir + "/" + split + "-labels-idx1-ubyte.gz";
    o.samples = samples;
    o.seed = seed;
    o.path = path;
    io::generate_dense_dataset(o);
    std::printf(
        "wrote %s: %lld samples, sample shape 3 %lld %lld, class ids per pixel, %zu "
        "classes (%s)\n",
        path.c_str(), static_cast<long long>(samples), static_cast<long long>(o.height),
        static_cast<long long>(o.width),
        (task == "road" ? io::kRoadClasses : io::kSegmentationClasses).size(), task.c_str());
  };
  write("train", o.samples, o.seed, o.path);
  if (vm.count("test-out")) {
    // Another seed for the test file (and, for segmentation, other items).
    write("t10k", vm["test-samples"].as<int64_t>(), o.seed ^ 0x7E57ull,
          vm["test-out"].as<std::string>());
  }
  return 0;
}

}  // namespace

int run_import(int argc, char** argv) {
  if (argc >= 2 && !std::strcmp(argv[1], "idx")) return import_idx(argc - 1, argv + 1);
  if (argc >= 2 && !std::strcmp(argv[1], "csv")) return import_csv(argc - 1, argv + 1);
  if (argc >= 2 && !std::strcmp(argv[1], "onnx")) return import_onnx(argc - 1, argv + 1);
  if (argc >= 2 && !std::strcmp(argv[1], "images")) return import_images(argc - 1, argv + 1);
  const bool help = argc >= 2 && (!std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h"));
  std::fprintf(help ? stdout : stderr,
               "Usage: lockstep import idx --images FILE --labels FILE --out FILE.h5\n"
               "       lockstep import csv --input FILE.csv --out FILE.h5 [options]\n"
               "       lockstep import onnx MODEL.onnx --out MODEL.h5 [options]\n"
               "       lockstep import images --input DIR --out FILE.h5 [options]\n"
               "Each has --help.\n");
  if (help) return 0;
  throw Error(argc >= 2 ? "import: unknown format '" + std::string(argv[1]) +
                              "', expected idx, csv, onnx or images"
                        : std::string("import: expected a format, idx, csv, onnx or images"));
}

int run_datagen(int argc, char** argv) {
  po::options_description desc(
      "lockstep datagen: a synthetic image-classification dataset (HDF5) of any size and shape,\n"
      "with learnable structure (per-class blob patterns, shifted, with noise)\n\n"
      "Usage: lockstep datagen --out synth.h5 --samples 100000 --shape 3x64x64 --classes 10\n\n"
      "Options");
  desc.add_options()("help,h", "show this help")("out,o", po::value<std::string>(),
                                                 "output HDF5 file")(
      "samples,n", po::value<int64_t>()->default_value(10000), "number of samples")(
      "shape", po::value<std::string>()->default_value("3x64x64"), "sample shape CxHxW")(
      "classes", po::value<int64_t>()->default_value(10), "number of classes")(
      "seed", po::value<uint64_t>()->default_value(0), "seed of the samples")(
      "class-seed", po::value<uint64_t>()->default_value(0),
      "seed of the classes: use the same for train and test files, different --seed")(
      "noise", po::value<double>()->default_value(0.3),
      "pixel noise std (fraction of full range; segmentation and road: 0.04 unless given)")(
      "shift", po::value<int64_t>()->default_value(6), "random translation in pixels")(
      "dtype", po::value<std::string>()->default_value("uint8"), "uint8 or float32")(
      "task", po::value<std::string>()->default_value("classification"),
      "classification (blobs), segmentation (Fashion-MNIST items on cluttered canvases, "
      "per-pixel classes: 0 background, k+1 Fashion-MNIST class k) or road (road scenes: "
      "terrain, sky, road, lane marking, vehicle, pedestrian)")(
      "fashion-dir", po::value<std::string>()->default_value("/usr/share/datasets/fashion-mnist"),
      "segmentation: folder of the Fashion-MNIST IDX files (Debian's dataset-fashion-mnist)")(
      "items", po::value<std::string>()->default_value("2-4"),
      "segmentation: items per canvas, MIN-MAX")(
      "test-out", po::value<std::string>(),
      "segmentation / road: also write a test file (segmentation: items from the t10k files)")(
      "test-samples", po::value<int64_t>()->default_value(1000), "samples of the test file");
  po::variables_map vm;
  if (!parse(argc, argv, desc, vm, "datagen")) return 0;
  const std::string task = vm["task"].as<std::string>();
  if (task == "segmentation" || task == "road") return datagen_dense(vm, task);
  if (task != "classification")
    throw Error("datagen: --task: expected classification, segmentation or road, got '" + task +
                "'");
  io::DatagenOptions o;
  o.path = required(vm, "out", "datagen");
  o.samples = vm["samples"].as<int64_t>();
  o.shape = io::parse_shape(vm["shape"].as<std::string>());
  o.classes = vm["classes"].as<int64_t>();
  o.seed = vm["seed"].as<uint64_t>();
  o.class_seed = vm["class-seed"].as<uint64_t>();
  o.noise = vm["noise"].as<double>();
  o.max_shift = vm["shift"].as<int64_t>();
  const std::string dtype = vm["dtype"].as<std::string>();
  if (dtype != "uint8" && dtype != "float32")
    throw Error("datagen: --dtype: expected uint8 or float32, got '" + dtype + "'");
  o.dtype = dtype == "uint8" ? io::FeatureType::kUint8 : io::FeatureType::kFloat32;
  io::generate_image_dataset(o);
  std::printf("wrote %s: %lld samples, sample shape %s, %lld classes, %s\n", o.path.c_str(),
              static_cast<long long>(o.samples), vm["shape"].as<std::string>().c_str(),
              static_cast<long long>(o.classes), dtype.c_str());
  return 0;
}

int run_inspect(int argc, char** argv) {
  po::options_description desc(
      "lockstep inspect: the schema of a dataset or saved-model file\n\n"
      "Usage: lockstep inspect FILE.h5\n\nOptions");
  desc.add_options()("help,h", "show this help")("file", po::value<std::string>(), "HDF5 file");
  po::positional_options_description pos;
  pos.add("file", 1);
  po::variables_map vm;
  if (!parse(argc, argv, desc, vm, "inspect", &pos)) return 0;
  std::fputs(io::describe_file(required(vm, "file", "inspect")).c_str(), stdout);
  return 0;
}

}  // namespace lockstep::launch
