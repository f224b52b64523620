#pragma once
// Integrity checksums of saved models and checkpoints (README "File formats").
//
// Decisions:
// - CRC-32 as zlib computes it (the IEEE polynomial, zlib.crc32 in Python's
//   standard library): zlib is already a dependency, its crc32 is fast, and a
//   user can verify a file with h5py and nothing else. It detects corruption
//   (bit rot, torn or truncated writes, a file patched by hand), not tampering.
// - Arrays are checksummed as their little-endian bytes, whatever the host, so
//   the value is a property of the file's content; strings as their UTF-8
//   bytes, each followed by '\n'.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace lockstep::io {

/// Incremental CRC-32 (zlib); a default-constructed one is the CRC of nothing.
class Crc32 {
 public:
  Crc32& bytes(const void* data, size_t n);
  Crc32& floats(std::span<const float> values);    // little-endian float32
  Crc32& int64s(std::span<const int64_t> values);  // little-endian int64
  Crc32& line(const std::string& text);            // text + '\n'
  Crc32& lines(const std::vector<std::string>& texts);
  uint32_t value() const { return crc_; }

 private:
  uint32_t crc_ = 0;
};

/// "0x1a2b3c4d"
std::string checksum_text(uint32_t crc);

}  // namespace lockstep::io
