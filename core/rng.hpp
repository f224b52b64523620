#pragma once
// Deterministic, platform-independent random numbers.
//
// Everything random in lockstep (initialisation, shuffling, dropout masks) is a
// pure function of a seed and counters, so runs repeat bit for bit and a CUDA
// kernel can reproduce a CPU mask element by element (counter-based: the value
// at index i needs no state from index i-1). The standard library's
// distributions are not used because their output differs between library
// implementations.

#include <cmath>
#include <cstdint>
#include <initializer_list>

// Usable from CUDA kernels too: the dropout mask on a GPU is bit-identical to
// the CPU's.
#if defined(__CUDACC__)
#define LOCKSTEP_HOST_DEVICE __host__ __device__
#else
#define LOCKSTEP_HOST_DEVICE
#endif

namespace lockstep {

/// SplitMix64 finaliser: a bijective 64-bit mixer.
LOCKSTEP_HOST_DEVICE constexpr uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// Combines several counters (seed, epoch, rank, ...) into one key.
constexpr uint64_t hash_keys(std::initializer_list<uint64_t> keys) {
  uint64_t h = 0x6A09E667F3BCC909ull;
  for (uint64_t k : keys) h = mix64(h ^ mix64(k));
  return h;
}

/// Uniform float in [0, 1) from 24 random bits; counter based (key, index).
LOCKSTEP_HOST_DEVICE constexpr float uniform_at(uint64_t key, uint64_t index) {
  return static_cast<float>(mix64(key ^ mix64(index)) >> 40) * (1.0f / 16777216.0f);
}

/// A small sequential generator (SplitMix64 stream) for host-side use.
class Rng {
 public:
  explicit constexpr Rng(uint64_t seed) : state_(seed) {}

  constexpr uint64_t next_u64() {
    state_ += 0x9E3779B97F4A7C15ull;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  /// Uniform integer in [0, n), n > 0 (rejection of the biased low range).
  constexpr uint64_t below(uint64_t n) {
    const uint64_t threshold = (0 - n) % n;  // 2^64 mod n
    uint64_t r = next_u64();
    while (r < threshold) r = next_u64();
    return r % n;
  }

  /// Uniform double in [0, 1) from 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

  /// Standard normal (Box-Muller; uses two uniforms per call, no cached state).
  double normal() {
    double u1 = uniform();
    const double u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  uint64_t state_;
};

}  // namespace lockstep
