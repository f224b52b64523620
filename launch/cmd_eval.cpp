// lockstep eval: a saved model on any dataset, on any number of ranks, with
// the same figures whatever the rank count (every sample visited once, sums
// all-reduced). Classes are printed by name when the model file (or else the
// data file) has class names; --json writes the report for scripts.

#include <boost/program_options.hpp>

#include <cstdio>
#include <iostream>

#include "comm/mpi.hpp"
#include "io/model_file.hpp"
#include "io/predictions.hpp"
#include "launch/commands.hpp"
#include "launch/inference.hpp"
#include "launch/options.hpp"
#include "trainer/eval_metrics.hpp"
#include "trainer/trainer.hpp"

namespace po = boost::program_options;

namespace lockstep::launch {

int run_eval(int argc, char** argv, comm::MpiSession& mpi) {
  po::options_description desc(
      "lockstep eval: evaluate a saved model on a dataset\n\n"
      "Usage: lockstep eval --model final.h5 --data test.h5 [options]\n\nOptions");
  desc.add_options()("help,h", "show this help")(
      "model,m", po::value<std::string>(), "saved model (HDF5)")("data,d", po::value<std::string>(),
                                                                 "dataset (HDF5)")(
      "features", po::value<std::string>(), "features dataset name [the model's data.features]")(
      "labels", po::value<std::string>(), "labels dataset name [the model's data.labels]")(
      "batch-size", po::value<int64_t>()->default_value(1000),
      "rows per batch; ranks take whole batches of the row order, so the figures are the same "
      "on any number of ranks")("top-k", po::value<int64_t>()->default_value(5),
                                "classification: also report top-k accuracy")(
      "rows", po::value<std::string>()->default_value("all"),
      "all, or val / train: the validation or training rows of the model's "
      "data.val_fraction split (--data is then its training file)")(
      "json", po::value<std::string>(),
      "also write the report as JSON to this file (written atomically)");
  add_device_options(desc);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
  } catch (const po::error& e) {
    throw comm::CollectiveError(std::string("eval: ") + e.what() + " (see lockstep eval --help)");
  }
  if (vm.count("help")) {
    std::cout << desc << std::endl;
    return 0;
  }
  if (!vm.count("model") || !vm.count("data"))
    throw comm::CollectiveError(
        "eval: expected --model FILE and --data FILE (see lockstep eval --help)");
  comm::MpiCommunicator comm;
  const std::string model_path = vm["model"].as<std::string>();
  const std::string json_path = vm.count("json") ? vm["json"].as<std::string>() : "";
  if (!json_path.empty()) {
    comm::check_on_all_ranks(comm, [&] {
      io::check_not_an_input(json_path, {vm["data"].as<std::string>(), model_path});
    });
  }
  InferenceModel loaded = load_for_inference(mpi, comm, vm, model_path);
  Model* model = loaded.model.get();
  const io::SavedModel& saved = loaded.saved;
  const RunConfig& rc = loaded.config;
  trainer::DataOptions data = loaded.config.train_data;  // normalised exactly as in training
  data.spec.path = vm["data"].as<std::string>();
  if (vm.count("features")) data.spec.features = vm["features"].as<std::string>();
  if (vm.count("labels")) data.spec.labels = vm["labels"].as<std::string>();
  const LossKind loss_kind = loaded.loss;

  std::optional<io::RowSet> rows;  // --rows val / train: the training run's split
  const std::string which = vm["rows"].as<std::string>();
  comm::check_on_all_ranks(comm, [&] {
    if (which == "all") {
      data.limit = 0;  // the training run's data.limit is not the evaluated file's
      return;
    }
    LOCKSTEP_CHECK(which == "val" || which == "train",
                   "eval --rows: expected all, val or train, got '" << which << "'");
    LOCKSTEP_CHECK(rc.val_fraction > 0 || rc.folds > 0,
                   "eval --rows " << which << ": the model '" << model_path
                                  << "' was trained without data.val_fraction or data.folds; "
                                     "expected one");
    int64_t n = io::probe_dataset(data.spec).num_samples;
    if (data.limit > 0) n = std::min(data.limit, n);
    const io::RowSplit split = rc.folds > 0 ? io::fold_split(n, rc.folds, rc.fold, rc.split_seed())
                                            : io::split_rows(n, rc.val_fraction, rc.split_seed());
    rows = which == "val" ? split.val : split.train;
  });
  data.shard_block = vm["batch-size"].as<int64_t>();  // whole batches per rank
  comm::check_on_all_ranks(comm, [&] {
    LOCKSTEP_CHECK(data.shard_block > 0,
                   "eval --batch-size: expected > 0, got " << data.shard_block);
  });
  trainer::ShardedData dataset(data, comm, true, rows);
  const Shape& out = model->output_shape();
  dataset.check_fits({model->input_shape(), saved.num_outputs, loss_kind == LossKind::kCrossEntropy,
                      out.size() == 3 ? Shape{out[1], out[2]} : Shape{}},
                     comm);
  const trainer::EvalMetrics m = trainer::evaluate_metrics(
      comm, *model, loss_kind, dataset, vm["batch-size"].as<int64_t>(), vm["top-k"].as<int64_t>(),
      loaded.config.loss_options);  // model.ignore_index and class weights, as in training
  const bool root = comm.rank() == 0;
  const std::vector<std::string> names =
      class_names_for(loaded, dataset.info().class_names, data.spec.path, root);
  if (root) {
    std::printf("model %s\ndata  %s (%lld samples, %d rank(s))\n", model_path.c_str(),
                data.spec.path.c_str(), static_cast<long long>(m.samples()), comm.size());
    std::fputs(m.report(names).c_str(), stdout);
    std::fflush(stdout);
  }
  if (!json_path.empty()) {
    comm::check_on_all_ranks(comm, [&] {
      if (!root) return;
      nlohmann::json report{{"model", model_path}, {"data", data.spec.path}, {"rows", which}};
      report.update(m.to_json(names));
      io::write_text_atomically(json_path, "report file", report.dump(1) + "\n");
    });
  }
  return 0;
}

}  // namespace lockstep::launch
