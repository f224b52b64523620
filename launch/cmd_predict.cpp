// lockstep predict: a saved model's predictions for a new input file (HDF5
// features or CSV), each rank computing a contiguous shard of the rows and
// rank 0 writing them, in input order, to CSV or HDF5 (by --out's extension),
// with the class names of the model (or of an HDF5 input) where it has them.
// The file is written atomically and only after every check has passed.

#include <boost/program_options.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "comm/mpi.hpp"
#include "io/image_codec.hpp"
#include "io/predictions.hpp"
#include "launch/commands.hpp"
#include "launch/inference.hpp"
#include "trainer/predict.hpp"

namespace po = boost::program_options;

namespace lockstep::launch {

namespace {

// DIR/NNNNNN.png per row of per-pixel class maps (rank 0).
void write_mask_pngs(const std::string& dir, const io::PredictionTable& t) {
  std::filesystem::create_directories(dir);
  const int64_t h = t.map_shape[0], w = t.map_shape[1];
  io::Mask mask{h, w, {}};
  for (int64_t r = 0; r < t.rows; ++r) {
    const auto first = t.classes.begin() + r * h * w;
    mask.ids.assign(first, first + h * w);
    char name[32];
    std::snprintf(name, sizeof name, "/%06lld.png", static_cast<long long>(r));
    io::write_mask_png(dir + name, mask);
  }
}

}  // namespace

int run_predict(int argc, char** argv, comm::MpiSession& mpi) {
  po::options_description desc(
      "lockstep predict: write a saved model's predictions for an input file\n\n"
      "Usage: lockstep predict --model final.h5 --data input.h5|input.csv --out pred.csv|pred.h5 "
      "[options]\n\nOptions");
  desc.add_options()("help,h", "show this help")("model,m", po::value<std::string>(),
                                                 "saved model or checkpoint (HDF5)")(
      "data,d", po::value<std::string>(),
      "input: HDF5 dataset (features; labels ignored) or CSV (.csv, .csv.gz) of numeric columns")(
      "out,o", po::value<std::string>(), "output: .csv or .h5 / .hdf5")(
      "features", po::value<std::string>(),
      "HDF5 features dataset name [the model's data.features]")(
      "delimiter", po::value<char>()->default_value(','), "CSV input field delimiter")(
      "png-dir", po::value<std::string>(),
      "segmentation models: also write each row's class map as DIR/NNNNNN.png (grayscale, "
      "pixel value = class id; row number from 0)")(
      "batch-size", po::value<int64_t>()->default_value(1000),
      "rows per batch; ranks take whole batches of the row order, so the outputs are the same "
      "on any number of ranks");
  add_device_options(desc);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
  } catch (const po::error& e) {
    throw comm::CollectiveError(std::string("predict: ") + e.what() +
                                " (see lockstep predict --help)");
  }
  if (vm.count("help")) {
    std::cout << desc << std::endl;
    return 0;
  }
  if (!vm.count("model") || !vm.count("data") || !vm.count("out"))
    throw comm::CollectiveError(
        "predict: expected --model FILE, --data FILE and --out FILE (see lockstep predict --help)");
  const std::string model_path = vm["model"].as<std::string>();
  const std::string data_path = vm["data"].as<std::string>();
  const std::string out_path = vm["out"].as<std::string>();
  comm::MpiCommunicator comm;
  comm::check_on_all_ranks(comm, [&] {
    io::prediction_format(out_path, "--out");
    io::check_not_an_input(out_path, {data_path, model_path});
  });
  const InferenceModel loaded = load_for_inference(mpi, comm, vm, model_path);
  comm::check_on_all_ranks(comm, [&] {
    LOCKSTEP_CHECK(!vm.count("png-dir") || (loaded.loss == LossKind::kCrossEntropy &&
                                            loaded.model->output_shape().size() == 3),
                   "predict --png-dir: expected a segmentation model (class scores per pixel, "
                   "(C, H, W)), got outputs "
                       << shape_str(loaded.model->output_shape()) << " of '" << model_path << "'");
  });
  const std::string features =
      vm.count("features") ? vm["features"].as<std::string>() : loaded.data.spec.features;
  const int64_t batch_size = vm["batch-size"].as<int64_t>();
  const trainer::PredictInput input =
      trainer::load_predict_input(data_path, features, vm["delimiter"].as<char>(),
                                  loaded.model->input_shape(), batch_size, comm);
  trainer::check_input_shape(input, loaded.model->input_shape(), comm);

  std::vector<float> local;
  comm::check_on_all_ranks(
      comm, [&] { local = trainer::predict_outputs(*loaded.model, input, loaded.data.norm); });
  const Shape& out_shape = loaded.model->output_shape();
  const int64_t width = out_shape[0];
  const bool classifier = loaded.loss == LossKind::kCrossEntropy;
  const bool per_pixel = classifier && out_shape.size() == 3;  // a segmentation model
  io::PredictionTable table =
      per_pixel ? trainer::gather_class_maps(comm, input, local, out_shape)
                : trainer::gather_predictions(comm, input, local, shape_numel(out_shape), classifier);
  table.model = model_path;
  comm::check_on_all_ranks(comm, [&] {
    if (comm.rank() != 0) return;
    // Class names: the model's, else the HDF5 input's class_names attribute.
    std::vector<std::string> data_names;
    if (classifier && loaded.saved.class_names.empty() && !trainer::is_csv_input(data_path))
      data_names = io::probe_dataset({data_path, features, ""}).class_names;
    table.class_names = class_names_for(loaded, data_names, data_path, true);
    io::write_predictions(out_path, table);
    if (vm.count("png-dir")) write_mask_pngs(vm["png-dir"].as<std::string>(), table);
  });
  if (comm.rank() == 0) {
    std::printf(
        "model %s\ndata  %s (%lld rows, %d rank(s))\nwrote %s: %s\n", model_path.c_str(),
        data_path.c_str(), static_cast<long long>(input.num_rows), comm.size(), out_path.c_str(),
        per_pixel ? ("the class of each of " + std::to_string(out_shape[1]) + "x" +
                     std::to_string(out_shape[2]) + " pixels per row (" + std::to_string(width) +
                     " classes)")
                        .c_str()
        : classifier ? ((table.class_names.empty() ? "class and " : "class, class name and ") +
                        std::to_string(width) + " class probabilities per row")
                           .c_str()
                     : (std::to_string(shape_numel(out_shape)) + " output(s) per row").c_str());
  }
  return 0;
}

}  // namespace lockstep::launch
