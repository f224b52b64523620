// core/cuda/cudnn.hpp.

#include "core/cuda/cudnn.hpp"

#include "core/device.hpp"

namespace lockstep::cuda {
namespace {

struct CudnnState {
  int device = -1;
  cudnnHandle_t handle = nullptr;
  cudaStream_t bound = nullptr;
};

CudnnState& state() {
  // One GPU per process (core/cuda/device.cu). Like the cuBLAS handle, the
  // handle lives as long as the process: destroying it from a static
  // destructor could run after the CUDA runtime has shut down.
  static CudnnState s;
  return s;
}

}  // namespace

std::string cudnn_status_string(cudnnStatus_t s) {
  return std::string(cudnnGetErrorString(s)) + " (cuDNN " + std::to_string(cudnnGetVersion()) + ")";
}

cudnnHandle_t cudnn() {
  CudnnState& s = state();
  const int dev = device::selected();
  LOCKSTEP_CHECK(dev >= 0, "cuDNN used before a GPU was selected");
  if (s.handle == nullptr) {
    LOCKSTEP_CUDNN_CHECK(cudnnCreate(&s.handle));
    s.device = dev;
    s.bound = nullptr;
  }
  LOCKSTEP_CHECK(s.device == dev,
                 "cuDNN handle made for GPU " << s.device << ", but GPU " << dev << " is selected");
  const cudaStream_t stream = current_stream();
  if (stream != s.bound) {
    LOCKSTEP_CUDNN_CHECK(cudnnSetStream(s.handle, stream));
    s.bound = stream;
  }
  return s.handle;
}

TensorDesc make_tensor_desc() {
  cudnnTensorDescriptor_t d = nullptr;
  LOCKSTEP_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d));
  return TensorDesc(d);
}

FilterDesc make_filter_desc() {
  cudnnFilterDescriptor_t d = nullptr;
  LOCKSTEP_CUDNN_CHECK(cudnnCreateFilterDescriptor(&d));
  return FilterDesc(d);
}

ConvDesc make_conv_desc() {
  cudnnConvolutionDescriptor_t d = nullptr;
  LOCKSTEP_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d));
  return ConvDesc(d);
}

}  // namespace lockstep::cuda
