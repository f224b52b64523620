#include "launch/inference.hpp"

#include <cstdio>

#include "comm/placement.hpp"
#include "core/device.hpp"
#include "core/threads.hpp"
#include "launch/commands.hpp"
#include "launch/options.hpp"
#include "trainer/model_io.hpp"

namespace po = boost::program_options;

namespace lockstep::launch {

void add_device_options(po::options_description& desc) {
  desc.add_options()("threads", po::value<int>()->default_value(0),
                     "CPU threads per rank; 0: automatic")(
      "device", po::value<std::string>()->default_value("auto"), "auto, cpu or cuda")(
      "allow-shared-gpu", "allow more ranks than GPUs on a host");
}

InferenceModel load_for_inference(comm::MpiSession& mpi, comm::MpiCommunicator& comm,
                                  const po::variables_map& vm, const std::string& path) {
  configure_cpu_threads(vm["threads"].as<int>(), mpi.local_size());
  comm::DeviceRequest request = comm::DeviceRequest::kAuto;
  comm::check_on_all_ranks(
      comm, [&] { request = comm::parse_device_request(vm["device"].as<std::string>()); });
  const comm::Placement place =
      comm::place_rank(mpi, comm, request, vm.count("allow-shared-gpu") > 0);
  if (place.gpu) {
    comm::check_on_all_ranks(comm, [&] { device::select(place.device, device::Precision::kFp32); });
  }
  InferenceModel m;
  comm::check_on_all_ranks(comm, [&] {
    m.saved = io::load_model(path);
    m.model = trainer::restore(m.saved, path, place.gpu ? Device::kCuda : Device::kCpu);
    // Inference needs only the config's data options (dataset names,
    // normalisation, the validation split): like checkpoint.init, it accepts a
    // model whose config names no training file (written by another tool, or
    // with the key taken out) or no layers (the model file has them anyway).
    ConfigValues values = parse_config_text(m.saved.config);
    if (values.at("data.train").empty()) values["data.train"] = "(not recorded in the model)";
    if (values.at("model.layers").empty()) values["model.layers"] = m.saved.layers;
    m.config = to_run_config(values);
    m.data = m.config.train_data;
    m.loss = parse_loss(m.saved.loss);
  });
  return m;
}

std::vector<std::string> class_names_for(const InferenceModel& m,
                                         const std::vector<std::string>& data_names,
                                         const std::string& data_path, bool root) {
  if (m.loss != LossKind::kCrossEntropy) return {};
  const bool from_model = !m.saved.class_names.empty();
  const std::vector<std::string>& names = from_model ? m.saved.class_names : data_names;
  // Classes: the outputs, or per pixel the output channels (C, H, W).
  const Shape& out = m.model->output_shape();
  const int64_t classes = out.size() == 3 ? out[0] : m.saved.num_outputs;
  if (names.empty() || static_cast<int64_t>(names.size()) == classes) return names;
  if (root)
    std::fprintf(stderr,
                 "lockstep: warning: %s has %zu class names for the model's %lld classes; "
                 "printing class ids\n",
                 from_model ? "the model file" : ("data file '" + data_path + "'").c_str(),
                 names.size(), static_cast<long long>(classes));
  return {};
}

}  // namespace lockstep::launch
