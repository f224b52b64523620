#include "launch/tuning.hpp"

#include <ctime>

namespace po = boost::program_options;

namespace lockstep::launch {

void add_tuning_options(po::options_description& desc, const char* default_out) {
  desc.add_options()("metric", po::value<std::string>(),
                     "the figure that ranks runs (best epoch of each run): val_loss, "
                     "val_accuracy, test_accuracy, train_loss, ... [val_loss with validation "
                     "data, else test_loss with a test set, else train_loss]")(
      "mode", po::value<std::string>()->default_value("auto"),
      "min or max; auto: max for accuracy and r2, min otherwise")("out", po::value<std::string>(),
                                                                  default_out);
}

trainer::MetricChoice resolve_metric(const po::variables_map& cli,
                                     const trainer::RunConfig& config) {
  return trainer::choose_metric(cli.count("metric") ? cli["metric"].as<std::string>() : "",
                                cli["mode"].as<std::string>(), config);
}

std::string output_dir(const po::variables_map& cli, const std::string& prefix,
                       comm::Communicator& comm) {
  if (cli.count("out")) return cli["out"].as<std::string>();
  std::string name;
  if (comm.rank() == 0) {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "-%Y%m%d-%H%M%S", &tm);
    name = prefix + buf;
  }
  return comm::broadcast_string(comm, name, 0);
}

}  // namespace lockstep::launch
