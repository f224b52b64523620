#pragma once
// Template definitions for communicator.hpp.

#include <exception>

#include "core/error.hpp"

namespace lockstep::comm {

template <class F>
void check_on_all_ranks(Communicator& comm, F&& check) {
  std::optional<std::string> error;
  try {
    check();
  } catch (const std::exception& e) {
    error = e.what();
  }
  agree_or_throw(comm, error);
}

}  // namespace lockstep::comm
