#pragma once
// batchnorm[(momentum=M, eps=E, sync)] (alias bn): normalises each channel
// (dense features, or image channels over H and W) with the batch statistics
// in training and the running statistics in evaluation; gamma/beta are
// parameters, the running mean and variance are model buffers (saved with the
// model, not trained). With `sync` the batch statistics, and the sums backward
// needs, are summed across ranks, so P ranks normalise exactly like one
// process on the concatenated batch. The sum is the communicator's blocking
// float all-reduce: on GPU ranks (NCCL) it is stream-ordered, on a
// communicator of its own beside the gradient buckets, and the host does not
// wait (comm/nccl.hpp); CPU ranks (MPI) wait for it.

#include <memory>

#include "core/layers/args.hpp"
#include "core/layers/layer.hpp"

namespace lockstep {

struct BatchNormSaved final : SavedState {
  Tensor xhat;                      // the normalised input, like x
  Tensor inv_std;                   // (C)
  double count = 0;                 // values per channel in the batch (over all ranks with sync)
  bool batch_stats = false;         // normalised with batch statistics (training)
  SumAcrossRanks sum_across_ranks;  // with sync: backward sums across ranks too
};

class BatchNorm final : public LayerWith<BatchNormSaved> {
 public:
  BatchNorm(double momentum, double eps, bool sync);
  std::string spec() const override;
  Shape output_shape(const Shape& in) const override;
  std::vector<ParamSpec> param_specs(const Shape& in) const override;
  std::vector<ParamSpec> buffer_specs(const Shape& in) const override;
  void bind(std::span<const Tensor> params, std::span<const Tensor> grads) override;
  void bind_buffers(std::span<const Tensor> buffers) override;

 protected:
  Tensor forward_impl(const Tensor& x, const RunContext& ctx, uint64_t layer_index,
                      BatchNormSaved& saved) override;
  Tensor backward_impl(const BatchNormSaved& saved, const Tensor& dy, bool need_dx) override;

 private:
  double momentum_, eps_;
  bool sync_;
  Tensor gamma_, beta_, dgamma_, dbeta_;  // (C)
  Tensor running_mean_, running_var_;     // (C) buffers
  Tensor sums_, mean_;                    // (2, C), (C) scratch
};

std::unique_ptr<Layer> make_batchnorm(LayerArgs& args);

}  // namespace lockstep
