#pragma once
// The error type of lockstep and the check macro every folder uses for input
// that depends on the user. Library code throws; launch/main prints one line per
// failing rank and aborts the job so that no rank is left waiting.

#include <sstream>
#include <stdexcept>
#include <string>

namespace lockstep {

/// A user-facing error: the message says what was expected, what was found, and where.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
/// Throws Error("<api> call failed: <statement> at <file>:<line>: <detail>").
/// Used by the per-library check macros (MPI, HDF5, CUDA, cuBLAS, NCCL).
[[noreturn]] void throw_call_failed(const char* api, const char* statement, const char* file,
                                    int line, const std::string& detail);
}  // namespace detail

}  // namespace lockstep

/// Always-on check: LOCKSTEP_CHECK(n > 0, "batch size: expected > 0, got " << n);
#define LOCKSTEP_CHECK(cond, msg)                        \
  do {                                                   \
    if (!(cond)) {                                       \
      std::ostringstream lockstep_check_os_;             \
      lockstep_check_os_ << msg; /* NOLINT */            \
      throw ::lockstep::Error(lockstep_check_os_.str()); \
    }                                                    \
  } while (0)

/// Unconditional failure with the same message format.
#define LOCKSTEP_FAIL(msg) LOCKSTEP_CHECK(false, msg)
