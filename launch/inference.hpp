#pragma once
// What `eval` and `predict` share: the device options and placement (the same
// rules as training), and loading a saved model with the data options of the
// config it was trained with (so inputs are normalised exactly as in training).

#include <boost/program_options.hpp>

#include <memory>
#include <string>
#include <vector>

#include "comm/mpi.hpp"
#include "core/loss.hpp"
#include "core/model.hpp"
#include "io/model_file.hpp"
#include "launch/options.hpp"
#include "trainer/data.hpp"

namespace lockstep::launch {

/// Adds --threads, --device and --allow-shared-gpu.
void add_device_options(boost::program_options::options_description& desc);

struct InferenceModel {
  io::SavedModel saved;
  std::unique_ptr<Model> model;  // on this rank's device
  RunConfig config;              // the config it was trained with
  trainer::DataOptions data;     // config.train_data (features name, normalisation)
  LossKind loss = LossKind::kCrossEntropy;
};

/// Collective: sets threads, places the rank on a CPU or GPU (--device), and
/// loads the model file or checkpoint at `path` onto that device.
InferenceModel load_for_inference(comm::MpiSession& mpi, comm::MpiCommunicator& comm,
                                  const boost::program_options::variables_map& vm,
                                  const std::string& path);

/// The class names a classifier's output is reported with: the model file's
/// (recorded from its training data), else `data_names` (the class_names
/// attribute of the data file at hand); none unless there is one name per
/// output (a list of another length is ignored with a warning on rank 0).
std::vector<std::string> class_names_for(const InferenceModel& m,
                                         const std::vector<std::string>& data_names,
                                         const std::string& data_path, bool root);

}  // namespace lockstep::launch
