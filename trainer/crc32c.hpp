#pragma once
// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
// TFRecord framing, and the "masked" form TFRecord stores.

#include <cstddef>
#include <cstdint>

namespace lockstep::trainer {

/// CRC32C of n bytes; `crc` continues an earlier call over the preceding bytes.
uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);

/// TFRecord's masked CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
uint32_t mask_crc(uint32_t crc);
uint32_t unmask_crc(uint32_t masked);

}  // namespace lockstep::trainer
