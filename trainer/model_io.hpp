#pragma once
// Between the in-memory Model and the saved-model file of io/.

#include <memory>
#include <string>

#include "core/loss.hpp"
#include "core/model.hpp"
#include "io/model_file.hpp"

namespace lockstep::trainer {

/// A snapshot of the model (parameters copied) with its description.
io::SavedModel snapshot(const Model& model, LossKind loss, const std::string& config);

/// Rebuilds the model a file describes and loads its parameters; checks that
/// the file's layout is exactly the one the layers give (names, shapes, offsets).
std::unique_ptr<Model> restore(const io::SavedModel& saved, const std::string& path,
                               Device device = Device::kCpu);

}  // namespace lockstep::trainer
