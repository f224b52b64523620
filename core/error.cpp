#include "core/error.hpp"

namespace lockstep::detail {

void throw_call_failed(const char* api, const char* statement, const char* file, int line,
                       const std::string& detail) {
  std::ostringstream os;
  os << api << " call failed: " << statement << " at " << file << ":" << line;
  if (!detail.empty()) os << ": " << detail;
  throw Error(os.str());
}

}  // namespace lockstep::detail
