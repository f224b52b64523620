#include "io/checksum.hpp"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>

namespace lockstep::io {

namespace {

// zlib takes uInt lengths: feed large arrays in pieces.
uint32_t update(uint32_t crc, const unsigned char* p, size_t n) {
  constexpr size_t kPiece = size_t{1} << 30;
  while (n > 0) {
    const size_t m = std::min(n, kPiece);
    crc = static_cast<uint32_t>(crc32(crc, p, static_cast<uInt>(m)));
    p += m;
    n -= m;
  }
  return crc;
}

// Little-endian bytes of `values` (a copy only on big-endian hosts).
template <class T>
uint32_t update_le(uint32_t crc, std::span<const T> values) {
  if constexpr (std::endian::native == std::endian::little) {
    return update(crc, reinterpret_cast<const unsigned char*>(values.data()), values.size_bytes());
  } else {
    unsigned char buf[sizeof(T)];
    for (const T& v : values) {
      std::memcpy(buf, &v, sizeof(T));
      std::reverse(buf, buf + sizeof(T));
      crc = update(crc, buf, sizeof(T));
    }
    return crc;
  }
}

}  // namespace

Crc32& Crc32::bytes(const void* data, size_t n) {
  crc_ = update(crc_, static_cast<const unsigned char*>(data), n);
  return *this;
}

Crc32& Crc32::floats(std::span<const float> values) {
  crc_ = update_le(crc_, values);
  return *this;
}

Crc32& Crc32::int64s(std::span<const int64_t> values) {
  crc_ = update_le(crc_, values);
  return *this;
}

Crc32& Crc32::line(const std::string& text) {
  bytes(text.data(), text.size());
  return bytes("\n", 1);
}

Crc32& Crc32::lines(const std::vector<std::string>& texts) {
  for (const auto& t : texts) line(t);
  return *this;
}

std::string checksum_text(uint32_t crc) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", static_cast<unsigned>(crc));
  return buf;
}

}  // namespace lockstep::io
