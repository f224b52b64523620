#include "trainer/checkpoint.hpp"

#include <unistd.h>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "trainer/model_io.hpp"

namespace lockstep::trainer {

namespace fs = std::filesystem;

io::SavedModel checkpoint_snapshot(const Model& model, LossKind loss, const std::string& config,
                                   Optimizer& optimizer, const Position& position, int world_size,
                                   uint64_t seed) {
  io::SavedModel s = snapshot(model, loss, config);
  io::TrainingState t;
  t.optimizer = optimizer.name();
  t.optimizer_steps = optimizer.steps();
  for (auto& [name, slab] : optimizer.state()) {
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
                   Optimizer* optimizer) {
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
    Tensor host = Tensor::empty(slab.shape(), DType::kF32);
    std::copy(it->second.begin(), it->second.end(), host.data<float>());
    slab.copy_from(host);
  }
  optimizer->set_steps(t.optimizer_steps);
}

std::string write_checkpoint(const CheckpointOptions& options, const io::SavedModel& checkpoint) {
  fs::create_directories(options.dir);
  char name[64];
  std::snprintf(name, sizeof name, "ckpt-%010lld.h5",
                static_cast<long long>(checkpoint.training ? checkpoint.training->step : 0));
  const std::string path = (fs::path(options.dir) / name).string();
  io::save_model(path, checkpoint);  // atomic: temporary name, flush, rename
  // The pointer, atomically too: a reader sees the old or the new name.
  const std::string tmp =
      (fs::path(options.dir) / ("latest.tmp." + std::to_string(getpid()))).string();
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << name << "\n";
    out.flush();
    LOCKSTEP_CHECK(out.good(), "checkpoint pointer '" << tmp << "': write failed (disk full?)");
  }
  fs::rename(tmp, fs::path(options.dir) / "latest");
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
