#include "trainer/model_io.hpp"

#include <algorithm>

namespace lockstep::trainer {

io::SavedModel snapshot(const Model& model, LossKind loss, const std::string& config) {
  io::SavedModel s;
  s.layers = model.spec();
  s.input_shape = model.input_shape();
  s.loss = to_string(loss);
  s.num_outputs = shape_numel(model.output_shape());
  s.config = config;
  for (const ParamInfo& p : model.layout()) s.layout.push_back({p.name, p.shape, p.offset});
  Tensor host = Tensor::empty(model.params().shape(), DType::kF32);
  host.copy_from(model.params());  // from the GPU when the model lives there
  const float* w = host.data<float>();
  s.parameters.assign(w, w + model.num_params());
  if (model.buffers().numel() > 0) {
    Tensor b = Tensor::empty(model.buffers().shape(), DType::kF32);
    b.copy_from(model.buffers());
    s.buffers.assign(b.data<float>(), b.data<float>() + b.numel());
  }
  return s;
}

std::unique_ptr<Model> restore(const io::SavedModel& saved, const std::string& path,
                               Device device) {
  auto model = std::make_unique<Model>(saved.layers, saved.input_shape, DType::kF32, device);
  const auto& layout = model->layout();
  LOCKSTEP_CHECK(static_cast<int64_t>(saved.parameters.size()) == model->num_params(),
                 "model file '" << path << "': the layers '" << saved.layers << "' need "
                                << model->num_params() << " parameters, the file has "
                                << saved.parameters.size());
  LOCKSTEP_CHECK(saved.layout.size() == layout.size(),
                 "model file '" << path << "': expected " << layout.size()
                                << " parameter tensors in the layout, found "
                                << saved.layout.size());
  for (size_t i = 0; i < layout.size(); ++i) {
    const auto& a = layout[i];
    const auto& b = saved.layout[i];
    LOCKSTEP_CHECK(a.name == b.name && a.shape == b.shape && a.offset == b.offset,
                   "model file '" << path << "': layout entry " << i << " is " << b.name << " "
                                  << shape_str(b.shape) << " at " << b.offset << ", expected "
                                  << a.name << " " << shape_str(a.shape) << " at " << a.offset);
  }
  Tensor host = Tensor::empty(model->params().shape(), DType::kF32);
  std::copy(saved.parameters.begin(), saved.parameters.end(), host.data<float>());
  model->params().copy_from(host);
  LOCKSTEP_CHECK(static_cast<int64_t>(saved.buffers.size()) == model->buffers().numel(),
                 "model file '" << path << "': the layers '" << saved.layers << "' keep "
                                << model->buffers().numel() << " buffer values (e.g. BatchNorm "
                                << "running statistics), the file has " << saved.buffers.size());
  if (!saved.buffers.empty()) {
    Tensor b = Tensor::empty(model->buffers().shape(), DType::kF32);
    std::copy(saved.buffers.begin(), saved.buffers.end(), b.data<float>());
    model->buffers().copy_from(b);
  }
  return model;
}

}  // namespace lockstep::trainer
