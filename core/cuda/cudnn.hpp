#pragma once
// cuDNN as lockstep uses it (builds with cuDNN only, cmake LOCKSTEP_CUDNN): the
// check macro for cuDNN calls, the handle of the selected GPU, and RAII owners
// for the descriptors of the legacy convolution API.

#include <cudnn.h>

#include <memory>
#include <string>

#include "core/cuda/runtime.hpp"

namespace lockstep::cuda {

std::string cudnn_status_string(cudnnStatus_t s);

/// The cuDNN handle of the selected GPU (made on first use), bound to the
/// current stream: cudnnSetStream runs only when that stream changes.
cudnnHandle_t cudnn();

struct TensorDescDeleter {
  void operator()(cudnnTensorStruct* d) const noexcept { cudnnDestroyTensorDescriptor(d); }
};
struct FilterDescDeleter {
  void operator()(cudnnFilterStruct* d) const noexcept { cudnnDestroyFilterDescriptor(d); }
};
struct ConvDescDeleter {
  void operator()(cudnnConvolutionStruct* d) const noexcept {
    cudnnDestroyConvolutionDescriptor(d);
  }
};
using TensorDesc = std::unique_ptr<cudnnTensorStruct, TensorDescDeleter>;
using FilterDesc = std::unique_ptr<cudnnFilterStruct, FilterDescDeleter>;
using ConvDesc = std::unique_ptr<cudnnConvolutionStruct, ConvDescDeleter>;

TensorDesc make_tensor_desc();
FilterDesc make_filter_desc();
ConvDesc make_conv_desc();

}  // namespace lockstep::cuda

#define LOCKSTEP_CUDNN_CHECK(call)                                        \
  do {                                                                    \
    const cudnnStatus_t lockstep_cudnn_rc_ = (call);                      \
    if (lockstep_cudnn_rc_ != CUDNN_STATUS_SUCCESS)                       \
      ::lockstep::detail::throw_call_failed(                              \
          "cuDNN", #call, __FILE__, __LINE__,                             \
          ::lockstep::cuda::where() + ": " +                              \
              ::lockstep::cuda::cudnn_status_string(lockstep_cudnn_rc_)); \
  } while (0)
