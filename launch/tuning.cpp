#include "launch/tuning.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "trainer/early_stop.hpp"

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

std::vector<std::string> figure_names(const RunConfig& cfg) {
  return trainer::epoch_figure_names(cfg.loss, !cfg.test_path.empty(), cfg.has_validation());
}

MetricChoice resolve_metric(const po::variables_map& cli, const RunConfig& cfg) {
  MetricChoice m;
  m.metric = cli.count("metric")      ? cli["metric"].as<std::string>()
             : cfg.has_validation()   ? "val_loss"
             : !cfg.test_path.empty() ? "test_loss"
                                      : "train_loss";
  const std::vector<std::string> names = figure_names(cfg);
  if (std::find(names.begin(), names.end(), m.metric) == names.end()) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    throw Error("--metric: expected one of the figures of these runs (" + list + "), got '" +
                m.metric + "' (val_* need validation data, test_* data.test)");
  }
  const std::string mode = cli["mode"].as<std::string>();
  if (mode != "auto" && mode != "min" && mode != "max")
    throw Error("--mode: expected auto, min or max, got '" + mode + "'");
  m.maximize = mode == "auto" ? trainer::metric_maximized(m.metric) : mode == "max";
  return m;
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

RunResult run_one(const ConfigValues& values, comm::MpiSession& mpi, const MetricChoice& metric,
                  LossKind kind) {
  RunResult r;
  try {
    r.exit_code = train_with_config(values, mpi, &r.outcome);
    r.status = r.exit_code == trainer::kExitStopped ? "stopped" : "ok";
    r.best = trainer::best_epoch(r.outcome.records, kind, metric.metric, metric.maximize);
  } catch (const comm::CollectiveError& e) {
    r.exit_code = e.exit_code();
    r.status = "failed";
    r.error = e.what();
  }
  return r;
}

std::string cell(double v) {
  if (!std::isfinite(v)) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::vector<std::string> run_columns(const std::vector<std::string>& figures,
                                     const MetricChoice& metric) {
  std::vector<std::string> c{"epochs"};
  c.insert(c.end(), figures.begin(), figures.end());
  for (const char* s : {"best_", "best_epoch", "seconds", "status", "error"})
    c.push_back(std::string(s) == "best_" ? "best_" + metric.metric : s);
  return c;
}

std::vector<std::string> run_cells(const RunResult& r, const std::vector<std::string>& figures,
                                   LossKind kind) {
  const auto& recs = r.outcome.records;
  std::vector<std::string> c{std::to_string(recs.size())};
  const auto last = recs.empty() ? std::vector<std::pair<std::string, double>>{}
                                 : trainer::epoch_figures(recs.back(), kind);
  for (const std::string& name : figures) {
    const auto it =
        std::find_if(last.begin(), last.end(), [&](const auto& f) { return f.first == name; });
    c.push_back(it == last.end() ? "" : cell(it->second));
  }
  c.push_back(cell(r.best.epoch > 0 ? r.best.value : NAN));
  c.push_back(r.best.epoch > 0 ? std::to_string(r.best.epoch) : "");
  c.push_back(r.status == "failed" ? "" : cell(r.outcome.seconds));
  c.push_back(r.status);
  c.push_back(r.error);
  return c;
}

namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch == '\n' ? ' ' : ch);
  return q + "\"";
}

}  // namespace

void ResultsTable::write_csv(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    const auto line = [&](const std::vector<std::string>& row) {
      for (size_t i = 0; i < row.size(); ++i) out << (i ? "," : "") << csv_field(row[i]);
      out << "\n";
    };
    line(header_);
    for (const auto& row : rows_) line(row);
    out.flush();
    if (!out) throw Error("results file '" + tmp + "': write failed");
  }
  std::filesystem::rename(tmp, path);
}

std::string ResultsTable::text(const std::vector<std::string>& columns) const {
  std::vector<size_t> index;
  for (const std::string& c : columns) {
    const auto it = std::find(header_.begin(), header_.end(), c);
    if (it != header_.end()) index.push_back(static_cast<size_t>(it - header_.begin()));
  }
  std::vector<size_t> width(index.size());
  for (size_t j = 0; j < index.size(); ++j) {
    width[j] = header_[index[j]].size();
    for (const auto& row : rows_) width[j] = std::max(width[j], row[index[j]].size());
  }
  std::ostringstream os;
  const auto line = [&](const std::vector<std::string>& row) {
    for (size_t j = 0; j < index.size(); ++j) {
      const std::string& s = row[index[j]];
      os << (j ? "  " : "") << s << std::string(width[j] - s.size(), ' ');
    }
    os << "\n";
  };
  line(header_);
  for (const auto& row : rows_) line(row);
  return os.str();
}

}  // namespace lockstep::launch
