#pragma once
// Tensor: a shared, move-only buffer plus offset, shape, dtype and device.
//
// Buffers own their memory (64-byte aligned host memory here; pinned host and
// pooled device memory join with the CUDA backend). A Tensor is a cheap handle:
// copies and views share the buffer, and the last handle frees it. Shapes are
// row-major; the first dimension of an activation is the batch (N).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace lockstep {

enum class DType : uint8_t { kF32, kF64, kI32, kU8 };
enum class Device : uint8_t { kCpu, kCuda };

size_t dtype_size(DType t);
const char* to_string(DType t);
const char* to_string(Device d);

using Shape = std::vector<int64_t>;
int64_t shape_numel(const Shape& s);
std::string shape_str(const Shape& s);  // "(128, 784)"

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::kF32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::kF64;
}
template <>
constexpr DType dtype_of<int32_t>() {
  return DType::kI32;
}
template <>
constexpr DType dtype_of<uint8_t>() {
  return DType::kU8;
}

/// Move-only owner of one allocation: host, pinned host (for asynchronous
/// copies to a GPU), or device memory (see core/memory.hpp).
class Buffer {
 public:
  Buffer(size_t bytes, Device device, bool pinned = false);
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  bool pinned() const { return pinned_; }

 private:
  void release() noexcept;
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_ = Device::kCpu;
  bool pinned_ = false;
};

class Tensor {
 public:
  Tensor() = default;
  /// A new, uninitialised tensor.
  static Tensor empty(const Shape& shape, DType dtype, Device device = Device::kCpu);
  /// A new host tensor in pinned (page-locked) memory where a GPU is present.
  static Tensor empty_pinned(const Shape& shape, DType dtype);
  /// A new tensor of zeros.
  static Tensor zeros(const Shape& shape, DType dtype, Device device = Device::kCpu);

  bool defined() const { return buffer_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int64_t dim(size_t i) const { return shape_.at(i); }
  size_t rank() const { return shape_.size(); }
  int64_t numel() const { return numel_; }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }

  /// A view of `shape` starting `offset` elements into this tensor (shares the buffer).
  Tensor view(int64_t offset, const Shape& shape) const;
  /// The same elements with another shape of equal element count.
  Tensor reshape(const Shape& shape) const { return view(0, shape); }
  /// Rows [begin, end) of the first dimension.
  Tensor rows(int64_t begin, int64_t end) const;

  /// Typed element pointer; throws when T does not match the dtype.
  template <class T>
  T* data() const {
    LOCKSTEP_CHECK(dtype_of<T>() == dtype_, "tensor dtype: expected " << to_string(dtype_of<T>())
                                                                      << ", got "
                                                                      << to_string(dtype_));
    return static_cast<T*>(raw());
  }
  void* raw() const;

  /// Sets every byte to zero.
  void zero();
  /// Copies the elements of `src` (same numel and dtype, any devices) into
  /// this tensor; device copies run on the current CUDA stream.
  void copy_from(const Tensor& src);
  bool pinned() const { return buffer_ && buffer_->pinned(); }

 private:
  std::shared_ptr<Buffer> buffer_;
  int64_t offset_ = 0;  // elements
  int64_t numel_ = 0;
  Shape shape_;
  DType dtype_ = DType::kF32;
  Device device_ = Device::kCpu;
};

/// Makes `t` a tensor of `shape`/`dtype`/`device`, reusing its buffer when it
/// already has exactly that shape (layers keep their outputs between steps).
void ensure_shape(Tensor& t, const Shape& shape, DType dtype, Device device);

}  // namespace lockstep
