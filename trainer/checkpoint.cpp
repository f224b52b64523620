#include "trainer/checkpoint.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "trainer/model_io.hpp"

namespace lockstep::trainer {

namespace fs = std::filesystem;

io::SavedModel checkpoint_snapshot(const Model& model, LossKind loss, const std::string& config,
                                   Optimizer& optimizer, const Position& position, int world_size,
                                   uint64_t seed) {
  return checkpoint_snapshot(model, loss, config, optimizer.name(), optimizer.steps(),
                             optimizer.state(), position, world_size, seed);
}

io::SavedModel checkpoint_snapshot(const Model& model, LossKind loss, const std::string& config,
                                   const std::string& optimizer_name, int64_t optimizer_steps,
                                   const std::vector<std::pair<std::string, Tensor>>& slabs,
                                   const Position& position, int world_size, uint64_t seed) {
  io::SavedModel s = snapshot(model, loss, config);
  io::TrainingState t;
  t.optimizer = optimizer_name;
  t.optimizer_steps = optimizer_steps;
  for (const auto& [name, slab] : slabs) {
    Tensor host = Tensor::empty(slab.shape(), DType::kF32);
    host.copy_from(slab);
    t.optimizer_slabs.emplace_back(
        name, std::vector<float>(host.data<float>(), host.data<float>() + host.numel()));
  }
  t.step = position.step;
  t.epoch = position.epoch;
  t.step_in_epoch = position.step_in_epoch;
  t.world_size = world_size;
  t.seed = static_cast<int64_t>(seed);
  s.training = std::move(t);
  return s;
}

void restore_state(const io::SavedModel& saved, const std::string& path, Model& model,
                   Optimizer* optimizer, int64_t first) {
  std::unique_ptr<Model> loaded = restore(saved, path, model.device());
  LOCKSTEP_CHECK(loaded->spec() == model.spec() && loaded->input_shape() == model.input_shape(),
                 "checkpoint '" << path << "' holds the model '" << loaded->spec() << "' on "
                                << shape_str(loaded->input_shape()) << "; expected '"
                                << model.spec() << "' on " << shape_str(model.input_shape()));
  model.params().copy_from(loaded->params());
  model.buffers().copy_from(loaded->buffers());
  if (!optimizer || !saved.training) return;
  const io::TrainingState& t = *saved.training;
  LOCKSTEP_CHECK(t.optimizer == optimizer->name(),
                 "checkpoint '" << path << "' was written by the optimizer " << t.optimizer
                                << "; this run uses " << optimizer->name()
                                << " (optim.name must match to resume)");
  for (auto& [name, slab] : optimizer->state()) {
    const auto it = std::find_if(t.optimizer_slabs.begin(), t.optimizer_slabs.end(),
                                 [&](const auto& e) { return e.first == name; });
    LOCKSTEP_CHECK(it != t.optimizer_slabs.end(),
                   "checkpoint '" << path << "' lacks the optimizer state '" << name << "'");
    LOCKSTEP_CHECK(first >= 0 && static_cast<int64_t>(it->second.size()) >= first + slab.numel(),
                   "checkpoint '" << path << "': the optimizer state '" << name << "' has "
                                  << it->second.size() << " values; expected at least "
                                  << first + slab.numel());
    Tensor host = Tensor::empty(slab.shape(), DType::kF32);
    std::copy_n(it->second.begin() + first, slab.numel(), host.data<float>());
    slab.copy_from(host);
  }
  optimizer->set_steps(t.optimizer_steps);
}

namespace {

// Temporary files of writers that were killed (another process id than ours).
void remove_stale_temporaries(const std::string& dir) {
  const std::string mine = ".tmp." + std::to_string(getpid());
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string f = e.path().filename().string();
    const bool temporary = (f.rfind("ckpt-", 0) == 0 || f.rfind("latest.tmp.", 0) == 0) &&
                           f.find(".tmp.") != std::string::npos;
    if (temporary && !f.ends_with(mine)) fs::remove(e.path(), ec);
  }
}

// The pointer, atomically too (temporary name, fsync, rename): a reader sees
// the old or the new name, never a partial one.
void write_pointer(const std::string& dir, const std::string& name) {
  const std::string tmp = (fs::path(dir) / ("latest.tmp." + std::to_string(getpid()))).string();
  const std::string text = name + "\n";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  bool ok = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const int error = errno;
  ok = fd >= 0 && ::fsync(fd) == 0 && ok;
  if (fd >= 0) ::close(fd);
  std::error_code ec;
  if (ok) fs::rename(tmp, fs::path(dir) / "latest", ec);
  if (!ok || ec) {
    fs::remove(tmp, ec);
    LOCKSTEP_FAIL("checkpoint pointer '" << (fs::path(dir) / "latest").string()
                                         << "': cannot write it (" << std::strerror(error)
                                         << "; disk full?); it still names the previous "
                                            "checkpoint");
  }
}

}  // namespace

std::string write_checkpoint(const CheckpointOptions& options, const io::SavedModel& checkpoint) {
  fs::create_directories(options.dir);
  char name[64];
  std::snprintf(name, sizeof name, "ckpt-%010lld.h5",
                static_cast<long long>(checkpoint.training ? checkpoint.training->step : 0));
  const std::string path = (fs::path(options.dir) / name).string();
  remove_stale_temporaries(options.dir);
  io::save_model(path, checkpoint);  // atomic: temporary name, flush, fsync, rename
  write_pointer(options.dir, name);
  // Keep the newest `keep`.
  std::vector<fs::path> all;
  for (const auto& e : fs::directory_iterator(options.dir)) {
    const std::string f = e.path().filename().string();
    if (f.rfind("ckpt-", 0) == 0 && e.path().extension() == ".h5") all.push_back(e.path());
  }
  std::sort(all.begin(), all.end());
  for (size_t i = 0; i + static_cast<size_t>(std::max(1, options.keep)) < all.size(); ++i)
    fs::remove(all[i]);
  return path;
}

std::string latest_checkpoint(const std::string& dir) {
  std::ifstream in(fs::path(dir) / "latest");
  std::string name;
  if (!in || !std::getline(in, name) || name.empty()) return "";
  const fs::path p = fs::path(dir) / name;
  LOCKSTEP_CHECK(fs::exists(p), "checkpoint pointer '" << (fs::path(dir) / "latest").string()
                                                       << "' names '" << name
                                                       << "', which does not exist");
  return p.string();
}

}  // namespace lockstep::trainer

namespace lockstep::trainer {

FoundCheckpoint load_latest_checkpoint(const std::string& dir) {
  // Candidates, newest first: the one `latest` names, then the older ones.
  std::string named;
  {
    std::ifstream in(fs::path(dir) / "latest");
    std::getline(in, named);
  }
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string f = e.path().filename().string();
    if (f.rfind("ckpt-", 0) == 0 && e.path().extension() == ".h5" && (named.empty() || f < named))
      names.push_back(f);
  }
  std::sort(names.rbegin(), names.rend());
  if (!named.empty()) names.insert(names.begin(), named);
  FoundCheckpoint found;
  for (const auto& name : names) {
    const std::string path = (fs::path(dir) / name).string();
    try {
      found.model = io::load_model(path);
      LOCKSTEP_CHECK(found.model.training, "a saved model, not a checkpoint");
      found.path = path;
      return found;
    } catch (const Error& e) {
      found.skipped.push_back("'" + path + "': " + e.what());
    }
  }
  if (found.skipped.empty()) return found;  // no checkpoint yet: a fresh start
  std::string all;
  for (const auto& s : found.skipped) all += (all.empty() ? "" : "; ") + s;
  LOCKSTEP_FAIL("checkpoint.resume = auto: no checkpoint in '" << dir << "' loads: " << all);
}

}  // namespace lockstep::trainer
