#include "core/layers/residual.hpp"

#include "core/layers/concat.hpp"
#include "core/layers/registry.hpp"
#include "core/ops/elementwise.hpp"
#include "core/rng.hpp"

namespace lockstep {

Residual::Residual(std::vector<std::unique_ptr<Layer>> body) : body_(std::move(body)) {
  LOCKSTEP_CHECK(!body_.empty(), "residual: expected at least one layer in the block");
  for (const auto& l : body_)
    LOCKSTEP_CHECK(dynamic_cast<const Merge*>(l.get()) == nullptr,
                   "residual: '" << l->spec() << "' takes a named output, which only a layer at "
                                 << "the top level of the model can do");
}

std::string Residual::spec() const {
  std::string s = "residual(";
  for (size_t i = 0; i < body_.size(); ++i) s += (i ? ", " : "") + body_[i]->spec();
  return s + ")";
}

Shape Residual::output_shape(const Shape& in) const {
  Shape s = in;
  for (const auto& l : body_) s = l->output_shape(s);
  LOCKSTEP_CHECK(s == in, spec() << ": the block maps " << shape_str(in) << " to " << shape_str(s)
                                 << "; expected the same shape so that the input can be added");
  return in;
}

void Residual::on_input_shape(const Shape& in) {
  Shape s = in;
  param_counts_.clear();
  buffer_counts_.clear();
  for (const auto& l : body_) {
    param_counts_.push_back(l->param_specs(s).size());
    buffer_counts_.push_back(l->buffer_specs(s).size());
    l->set_input_shape(s);
    s = l->output_shape(s);
  }
}

namespace {

// Specs of every body layer, named "<j>.<name>".
template <class F>
std::vector<ParamSpec> collect(const std::vector<std::unique_ptr<Layer>>& body, Shape s, F specs) {
  std::vector<ParamSpec> out;
  for (size_t j = 0; j < body.size(); ++j) {
    for (ParamSpec p : specs(*body[j], s)) {
      p.name = std::to_string(j) + "." + p.name;
      out.push_back(std::move(p));
    }
    s = body[j]->output_shape(s);
  }
  return out;
}

}  // namespace

std::vector<ParamSpec> Residual::param_specs(const Shape& in) const {
  return collect(body_, in, [](const Layer& l, const Shape& s) { return l.param_specs(s); });
}

std::vector<ParamSpec> Residual::buffer_specs(const Shape& in) const {
  return collect(body_, in, [](const Layer& l, const Shape& s) { return l.buffer_specs(s); });
}

void Residual::bind(std::span<const Tensor> params, std::span<const Tensor> grads) {
  size_t at = 0;
  for (size_t j = 0; j < body_.size(); ++j) {
    body_[j]->bind(params.subspan(at, param_counts_[j]), grads.subspan(at, param_counts_[j]));
    at += param_counts_[j];
  }
}

void Residual::bind_buffers(std::span<const Tensor> buffers) {
  size_t at = 0;
  for (size_t j = 0; j < body_.size(); ++j) {
    if (buffer_counts_[j]) body_[j]->bind_buffers(buffers.subspan(at, buffer_counts_[j]));
    at += buffer_counts_[j];
  }
}

Tensor Residual::forward_impl(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                              ResidualSaved& saved) {
  saved.children.resize(body_.size());
  Tensor h = x;
  for (size_t j = 0; j < body_.size(); ++j)
    h = body_[j]->forward(h, ctx, hash_keys({layer_index, j + 1}), saved.children[j]);
  Tensor& y = output_buffer(x.dim(0), x.dtype(), x.device());
  ops::add(x, h, y);
  return y;
}

Tensor Residual::backward_impl(const ResidualSaved& saved, const Tensor& dy, bool need_dx) {
  Tensor g = dy;
  for (size_t j = body_.size(); j-- > 0;) g = body_[j]->backward(saved.children[j], g, true);
  if (!need_dx) return Tensor();
  Tensor& dx = grad_input_buffer(dy.dim(0), dy.dtype(), dy.device());
  ops::add(dy, g, dx);
  return dx;
}

std::unique_ptr<Layer> make_residual(LayerArgs& args) {
  std::vector<std::unique_ptr<Layer>> body;
  for (const std::string& a : args.raw()) body.push_back(make_layer(a));
  return std::make_unique<Residual>(std::move(body));
}

}  // namespace lockstep
