#include "core/precision.hpp"

#include <atomic>

#include "core/error.hpp"

namespace lockstep {

namespace {
std::atomic<Precision> g_precision{Precision::kFp32};
}  // namespace

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::kFp32;
  if (name == "tf32") return Precision::kTf32;
  if (name == "bf16") return Precision::kBf16;
  throw Error("dist.precision: expected fp32, tf32 or bf16, got '" + name + "'");
}

const char* to_string(Precision p) {
  switch (p) {
    case Precision::kFp32: return "fp32";
    case Precision::kTf32: return "tf32";
    case Precision::kBf16: return "bf16";
  }
  return "?";
}

Precision compute_precision() {
  return g_precision.load(std::memory_order_relaxed);
}

void set_compute_precision(Precision p) {
  g_precision.store(p, std::memory_order_relaxed);
}

}  // namespace lockstep
