#pragma once
// 16-bit floating-point formats as bit patterns (uint16_t), converted with
// round-to-nearest-even: bfloat16 (8 exponent bits, as float32's range; 7
// mantissa bits) and IEEE binary16 (5 exponent bits: up to 65504, normal down
// to 6.1e-5, subnormal down to 6e-8; 10 mantissa bits). Host and device code
// (the gradient all-reduce sends them on the wire; see comm/).

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define LOCKSTEP_HD __host__ __device__
#else
#define LOCKSTEP_HD
#endif

namespace lockstep::half {

LOCKSTEP_HD inline uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

LOCKSTEP_HD inline float bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

/// float32 -> bfloat16, round to nearest even; NaN stays NaN.
LOCKSTEP_HD inline uint16_t to_bf16(float f) {
  const uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // NaN
  const uint32_t rounded = u + 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(rounded >> 16);
}

LOCKSTEP_HD inline float from_bf16(uint16_t h) { return bits_float(static_cast<uint32_t>(h) << 16); }

/// float32 -> IEEE binary16, round to nearest even; beyond 65504: infinity.
LOCKSTEP_HD inline uint16_t to_f16(float f) {
  const uint32_t u = float_bits(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds beyond 65504
  if (abs < 0x38800000u) {  // below 2^-14: subnormal (or zero)
    if (abs < 0x33000000u) return static_cast<uint16_t>(sign);  // below half the least subnormal
    const uint32_t exp = abs >> 23;                             // 102..112
    const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126u - exp;  // 14..24: value = mant * 2^(exp-150), unit 2^-24
    const uint32_t half_bits = mant >> shift;
    const uint32_t rest = mant & ((1u << shift) - 1u);
    const uint32_t halfway = 1u << (shift - 1u);
    const uint32_t up = rest > halfway || (rest == halfway && (half_bits & 1u));
    return static_cast<uint16_t>(sign | (half_bits + up));
  }
  // Normal: rebias the exponent (127 -> 15), round the 13 dropped mantissa bits.
  const uint32_t rebased = abs - 0x38000000u;  // exponent - 112
  const uint32_t rounded = rebased + 0xfffu + ((rebased >> 13) & 1u);
  return static_cast<uint16_t>(sign | (rounded >> 13));
}

LOCKSTEP_HD inline float from_f16(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24
    const float v = static_cast<float>(mant) * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  if (exp == 31) return bits_float(sign | 0x7f800000u | (mant << 13));  // inf, NaN
  return bits_float(sign | ((exp + 112u) << 23) | (mant << 13));
}

/// The power of two that keeps a sum over `ranks` values of magnitude up to
/// `max_abs` within 2^15 in binary16 (whose largest is 65504), between 2^-24
/// and 2^24; 1 when max_abs is 0 or not finite (NaN and infinity pass as
/// they are).
LOCKSTEP_HD inline float f16_scale(float max_abs, int ranks) {
  const uint32_t bits = float_bits(max_abs);
  if (!(max_abs > 0.0f) || (bits & 0x7f800000u) == 0x7f800000u) return 1.0f;
  const float s = 32768.0f / (max_abs * static_cast<float>(ranks));
  const float lo = 5.9604644775390625e-8f, hi = 16777216.0f;
  if (!(s > lo)) return lo;
  if (s > hi) return hi;
  return bits_float(float_bits(s) & 0x7f800000u);  // round down to a power of two
}

}  // namespace lockstep::half
