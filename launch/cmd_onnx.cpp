// lockstep export (a saved model to ONNX) and lockstep import onnx (an ONNX
// model to a lockstep model file): single-process model tools around
// io/onnx.hpp. Export puts the input normalisation of the model's config into
// the graph (or, with --no-normalisation, only into its metadata); import
// writes a model file with a config that predict, eval and checkpoint.init
// accept.

#include <boost/program_options.hpp>

#include <cstdio>
#include <iostream>
#include <sstream>

#include "core/error.hpp"
#include "io/dataset.hpp"
#include "io/onnx.hpp"
#include "launch/commands.hpp"
#include "launch/options.hpp"
#include "trainer/model_io.hpp"

namespace po = boost::program_options;

namespace lockstep::launch {
namespace {

bool parse(int argc, char** argv, const po::options_description& desc, po::variables_map& vm,
           const std::string& command, const po::positional_options_description* positional) {
  try {
    po::command_line_parser parser(argc, argv);
    parser.options(desc);
    if (positional) parser.positional(*positional);
    po::store(parser.run(), vm);
  } catch (const po::error& e) {
    throw Error(command + ": " + e.what() + " (see lockstep " + command + " --help)");
  }
  if (vm.count("help")) {
    std::cout << desc << std::endl;
    return false;
  }
  return true;
}

// "1, 28, 28)" for (1, 28, 28): the dimensions after the batch's.
std::string dims_text(const Shape& s) {
  std::string t;
  for (int64_t d : s) t += (t.empty() ? "" : ", ") + std::to_string(d);
  return t + ")";
}

std::string list_text(const std::vector<double>& v) {
  std::ostringstream os;
  for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
  return os.str();
}

// The scale of `norm` for the model's inputs: data.scale, or for "auto" the
// training data's feature type (--input-type, else the training file's).
double input_scale(const io::Normalization& norm, const io::DatasetSpec& train,
                   const po::variables_map& vm, const std::string& model_path) {
  if (norm.scale >= 0) return norm.scale;
  std::string type = vm.count("input-type") ? vm["input-type"].as<std::string>() : "";
  if (type.empty()) {
    try {
      type = io::probe_dataset(train).feature_type == io::FeatureType::kUint8 ? "uint8" : "float32";
    } catch (const Error& e) {
      throw Error("export: the model '" + model_path +
                  "' has data.scale = auto (1/255 for uint8 features, 1 for float32) and its "
                  "training data cannot be read to tell which (" +
                  e.what() + "); expected --input-type uint8 or float32");
    }
  }
  if (type != "uint8" && type != "float32")
    throw Error("export: --input-type: expected uint8 or float32, got '" + type + "'");
  return type == "uint8" ? 1.0 / 255 : 1.0;
}

}  // namespace

int run_export(int argc, char** argv) {
  po::options_description desc(
      "lockstep export: a saved model (or checkpoint) to ONNX for inference engines\n\n"
      "Usage: lockstep export --model final.h5 --out model.onnx [options]\n\nOptions");
  desc.add_options()("help,h", "show this help")("model,m", po::value<std::string>(),
                                                 "saved model or checkpoint (HDF5)")(
      "out,o", po::value<std::string>(), "output ONNX file")(
      "fold-batchnorm", "fold each BatchNorm into the conv2d / dense layer before it")(
      "no-normalisation",
      "leave the input normalisation out of the graph (it is then only in the metadata)")(
      "input-type", po::value<std::string>(),
      "uint8 or float32: the raw input type, for data.scale = auto [the training data's]");
  po::variables_map vm;
  if (!parse(argc, argv, desc, vm, "export", nullptr)) return 0;
  if (!vm.count("model") || !vm.count("out"))
    throw Error("export: expected --model FILE and --out FILE.onnx (see lockstep export --help)");
  const std::string model_path = vm["model"].as<std::string>();
  const std::string out = vm["out"].as<std::string>();
  io::require_onnx("export");
  const io::SavedModel saved = io::load_model(model_path);
  const auto model = trainer::restore(saved, model_path);
  ConfigValues values = parse_config_text(saved.config);
  if (values.at("data.train").empty()) values["data.train"] = "(not recorded in the model)";
  if (values.at("model.layers").empty()) values["model.layers"] = saved.layers;
  const RunConfig cfg = to_run_config(values);
  const io::Normalization& norm = cfg.train_data.norm;

  io::OnnxExportOptions options;
  options.classifier = saved.loss == "cross_entropy";
  options.loss = saved.loss;
  options.fold_batchnorm = vm.count("fold-batchnorm") > 0;
  options.producer_version = LOCKSTEP_VERSION;
  if (static_cast<int64_t>(saved.class_names.size()) == saved.num_outputs)
    options.class_names = saved.class_names;
  const double scale = input_scale(norm, cfg.train_data.spec, vm, model_path);
  // The formula and float rounding of io/normaliser.hpp: x * a[c] + b[c].
  const int64_t channels = model->input_shape()[0];
  bool identity = true;
  for (int64_t c = 0; c < channels; ++c) {
    const double mean = norm.mean.size() == 1 ? norm.mean[0] : norm.mean.at(c);
    const double sd = norm.std.size() == 1 ? norm.std[0] : norm.std.at(c);
    options.norm_scale.push_back(static_cast<float>(scale / sd));
    options.norm_shift.push_back(static_cast<float>(-mean / sd));
    identity = identity && options.norm_scale.back() == 1.0f && options.norm_shift.back() == 0.0f;
  }
  std::ostringstream note;
  note << "x' = (x * scale - mean[c]) / std[c] per channel c (dimension 1 of the input); scale="
       << scale << " mean=" << list_text(norm.mean) << " std=" << list_text(norm.std) << "; ";
  if (vm.count("no-normalisation") || identity) {
    options.norm_scale.clear();
    options.norm_shift.clear();
    note << (identity ? "the identity: the input is used as it is"
                      : "not in the graph: give it normalised inputs");
  } else {
    note << "applied by the graph's first two nodes: give it the raw features as float32";
  }
  options.normalisation_note = note.str();
  const io::OnnxExportSummary s = io::export_onnx(*model, options, out);
  std::printf(
      "wrote %s: ONNX opset %d, %lld nodes, %lld initializers%s; input \"input\" (N, %s, "
      "output%s\n",
      out.c_str(), io::kOnnxOpset, static_cast<long long>(s.nodes),
      static_cast<long long>(s.initializers),
      s.folded_batchnorms
          ? (", " + std::to_string(s.folded_batchnorms) + " BatchNorm(s) folded").c_str()
          : "",
      dims_text(model->input_shape()).c_str(),
      options.classifier ? "s \"logits\" and \"probabilities\"" : " \"logits\"");
  std::printf("normalisation: %s\n", options.normalisation_note.c_str());
  return 0;
}

int import_onnx(int argc, char** argv) {
  po::options_description desc(
      "lockstep import onnx: an ONNX model (e.g. exported from PyTorch) to a lockstep model file\n"
      "for predict, eval and fine-tuning (checkpoint.init)\n\n"
      "Usage: lockstep import onnx model.onnx --out model.h5 [options]\n\nOptions");
  desc.add_options()("help,h", "show this help")("input,i", po::value<std::string>(),
                                                 "ONNX model (also the first positional argument)")(
      "out,o", po::value<std::string>(), "output lockstep model file (HDF5)")(
      "data", po::value<std::string>(),
      "an HDF5 dataset the model is meant for: its sample shape must fit the graph's input")(
      "features", po::value<std::string>()->default_value("/features"),
      "features dataset name in --data")(
      "input-shape", po::value<std::string>(),
      "per-sample input shape, e.g. 3x32x32 (for graphs with symbolic dimensions)")(
      "loss", po::value<std::string>()->default_value("cross_entropy"),
      "cross_entropy (a classifier: logits out) or mse")(
      "scale", po::value<std::string>()->default_value("auto"),
      "input normalisation recorded in the model's config (data.scale)")(
      "mean", po::value<std::string>()->default_value("0"),
      "data.mean: one value or one per channel")("std",
                                                 po::value<std::string>()->default_value("1"),
                                                 "data.std: one value or one per channel");
  po::positional_options_description positional;
  positional.add("input", 1);
  po::variables_map vm;
  if (!parse(argc, argv, desc, vm, "import onnx", &positional)) return 0;
  if (!vm.count("input") || !vm.count("out"))
    throw Error(
        "import onnx: expected an ONNX file and --out FILE.h5 (see lockstep import onnx --help)");
  io::require_onnx("import onnx");
  const std::string path = vm["input"].as<std::string>();
  const std::string out = vm["out"].as<std::string>();
  LOCKSTEP_CHECK(out != path, "import onnx: --out names the input file '" << path << "'");
  Shape shape;
  if (vm.count("input-shape")) {
    std::string text = vm["input-shape"].as<std::string>();
    std::istringstream in(text);
    for (std::string part; std::getline(in, part, 'x');) {
      try {
        shape.push_back(std::stoll(part));
      } catch (const std::exception&) {
        throw Error("import onnx: --input-shape: expected dimensions like 3x32x32, got '" + text +
                    "'");
      }
    }
  }
  if (vm.count("data")) {
    const io::DatasetInfo info =
        io::probe_dataset({vm["data"].as<std::string>(), vm["features"].as<std::string>(), ""});
    LOCKSTEP_CHECK(shape.empty() || shape == info.sample_shape,
                   "import onnx: --input-shape "
                       << shape_str(shape) << " and the samples of --data '" << info.path << "' "
                       << shape_str(info.sample_shape) << " differ");
    shape = info.sample_shape;
  }
  // The config the model is saved with: the defaults, its layers, loss and normalisation.
  ConfigValues values = parse_config_text("");
  values["model.loss"] = vm["loss"].as<std::string>();
  values["data.scale"] = vm["scale"].as<std::string>();
  values["data.mean"] = vm["mean"].as<std::string>();
  values["data.std"] = vm["std"].as<std::string>();
  io::OnnxImport imported = io::import_onnx(path, shape);
  values["model.layers"] = imported.model->spec();
  values["data.train"] = "(not recorded in the model)";
  const RunConfig cfg = to_run_config(values);  // checks the values given
  values["data.train"] = "";
  io::SavedModel saved = trainer::snapshot(*imported.model, cfg.loss, to_ini(values));
  if (static_cast<int64_t>(imported.class_names.size()) == saved.num_outputs)
    saved.class_names = imported.class_names;
  io::save_model(out, saved);
  std::printf(
      "wrote %s: %lld ONNX nodes -> %zu layer(s), %lld parameters, input %s, %lld outputs%s\n"
      "layers: %s\n",
      out.c_str(), static_cast<long long>(imported.nodes), imported.model->num_layers(),
      static_cast<long long>(imported.model->num_params()),
      shape_str(imported.model->input_shape()).c_str(), static_cast<long long>(saved.num_outputs),
      imported.had_softmax ? " (the final Softmax dropped: the model outputs logits)" : "",
      saved.layers.c_str());
  return 0;
}

}  // namespace lockstep::launch
