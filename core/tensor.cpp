#include "core/tensor.hpp"

#include "core/memory.hpp"

#include <cstdlib>
#include <cstring>
#include <new>
#include <sstream>
#include <utility>

namespace lockstep {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::kF32:
      return 4;
    case DType::kF64:
      return 8;
    case DType::kI32:
      return 4;
    case DType::kU8:
      return 1;
  }
  return 0;
}

const char* to_string(DType t) {
  switch (t) {
    case DType::kF32:
      return "float32";
    case DType::kF64:
      return "float64";
    case DType::kI32:
      return "int32";
    case DType::kU8:
      return "uint8";
  }
  return "?";
}

const char* to_string(Device d) {
  return d == Device::kCpu ? "cpu" : "cuda";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << (s.size() == 1 ? ",)" : ")");
  return os.str();
}

Buffer::Buffer(size_t bytes, Device device, bool pinned)
    : bytes_(bytes), device_(device), pinned_(pinned && device == Device::kCpu) {
  if (device == Device::kCuda) {
    data_ = memory::device_alloc(bytes);
  } else {
    data_ = pinned_ ? memory::pinned_alloc(bytes) : memory::host_alloc(bytes);
  }
}

void Buffer::release() noexcept {
  if (data_ == nullptr) return;
  if (device_ == Device::kCuda) {
    memory::device_free(data_);
  } else if (pinned_) {
    memory::pinned_free(data_);
  } else {
    memory::host_free(data_);
  }
  data_ = nullptr;
}

Buffer::~Buffer() {
  release();
}

Buffer::Buffer(Buffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)),
      device_(other.device_),
      pinned_(other.pinned_) {}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
    device_ = other.device_;
    pinned_ = other.pinned_;
  }
  return *this;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape)
    LOCKSTEP_CHECK(d >= 0, "tensor shape " << shape_str(shape) << ": negative size");
  Tensor t;
  t.numel_ = shape_numel(shape);
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.device_ = device;
  t.buffer_ = std::make_shared<Buffer>(static_cast<size_t>(t.numel_) * dtype_size(dtype), device);
  return t;
}

Tensor Tensor::empty_pinned(const Shape& shape, DType dtype) {
  Tensor t = empty({0}, dtype);
  t.numel_ = shape_numel(shape);
  t.shape_ = shape;
  t.buffer_ = std::make_shared<Buffer>(static_cast<size_t>(t.numel_) * dtype_size(dtype),
                                       Device::kCpu, /*pinned=*/true);
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.zero();
  return t;
}

Tensor Tensor::view(int64_t offset, const Shape& shape) const {
  const int64_t n = shape_numel(shape);
  LOCKSTEP_CHECK(offset >= 0 && offset + n <= numel_,
                 "tensor view " << shape_str(shape) << " at offset " << offset
                                << " does not fit in a tensor of " << numel_ << " elements");
  Tensor t = *this;
  t.offset_ = offset_ + offset;
  t.numel_ = n;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::rows(int64_t begin, int64_t end) const {
  LOCKSTEP_CHECK(
      rank() >= 1 && 0 <= begin && begin <= end && end <= shape_[0],
      "rows [" << begin << ", " << end << ") of a tensor of shape " << shape_str(shape_));
  Shape s = shape_;
  s[0] = end - begin;
  const int64_t row = shape_[0] == 0 ? 0 : numel_ / shape_[0];
  return view(begin * row, s);
}

void* Tensor::raw() const {
  if (!buffer_) return nullptr;
  return static_cast<char*>(buffer_->data()) + offset_ * static_cast<int64_t>(dtype_size(dtype_));
}

void Tensor::zero() {
  memory::zero_bytes(raw(), device_ == Device::kCuda,
                     static_cast<size_t>(numel_) * dtype_size(dtype_));
}

void Tensor::copy_from(const Tensor& src) {
  LOCKSTEP_CHECK(src.numel_ == numel_ && src.dtype_ == dtype_,
                 "tensor copy: expected " << numel_ << " " << to_string(dtype_) << " elements, got "
                                          << src.numel_ << " " << to_string(src.dtype_));
  memory::copy_bytes(raw(), device_ == Device::kCuda, src.raw(), src.device_ == Device::kCuda,
                     static_cast<size_t>(numel_) * dtype_size(dtype_));
}

void ensure_shape(Tensor& t, const Shape& shape, DType dtype, Device device) {
  if (t.defined() && t.shape() == shape && t.dtype() == dtype && t.device() == device) return;
  t = Tensor::empty(shape, dtype, device);
}

}  // namespace lockstep
