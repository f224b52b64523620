#pragma once
// Internal to io/: one RAII owner per kind of HDF5 handle, the HDF5 check macro,
// and the few helpers the dataset, model and inspect files share.
//
// Decisions:
// - Every hid_t we open lives in a Handle<Close> the moment it is returned, so no
//   error branch can leak a dataspace or a type (the leak STYLE.md warns about).
// - LOCKSTEP_HDF5_CHECK throws through lockstep::detail::throw_call_failed with the
//   statement text and file:line, plus the innermost message of HDF5's error
//   stack. HDF5's own printing of that stack is turned off (silence_errors) on
//   every path that opens or creates a file, so users see our message only.
// - Only API calls that are the same in HDF5 1.10 and 1.12+ are used here
//   (H5Literate + H5Oopen/H5Iget_type instead of the versioned H5Ovisit family).

#include <hdf5.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace lockstep::io::h5 {

/// Move-only owner of one hid_t, closed with `Close` (H5Fclose, H5Sclose, ...).
template <herr_t (*Close)(hid_t)>
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  ~Handle() { reset(); }
  Handle(Handle&& other) noexcept : id_(std::exchange(other.id_, H5I_INVALID_HID)) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t get() const { return id_; }
  explicit operator bool() const { return id_ >= 0; }
  /// Gives up ownership (to close by hand and check the result).
  hid_t release() { return std::exchange(id_, H5I_INVALID_HID); }
  void reset() {
    if (id_ >= 0) Close(id_);  // a failing close cannot be reported from a destructor
    id_ = H5I_INVALID_HID;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

using File = Handle<H5Fclose>;
using Group = Handle<H5Gclose>;
using Dataset = Handle<H5Dclose>;
using Dataspace = Handle<H5Sclose>;
using Datatype = Handle<H5Tclose>;
using PropList = Handle<H5Pclose>;
using Attribute = Handle<H5Aclose>;
using Object = Handle<H5Oclose>;  // any object opened with H5Oopen

/// The innermost description on HDF5's current error stack ("" when empty).
std::string error_stack_message();

/// Turns off HDF5's automatic printing of its error stack (idempotent).
void silence_errors();

/// Opens an existing HDF5 file read-only; a failure (damaged or truncated file)
/// throws "<where>: cannot open: <HDF5's reason>".
hid_t open_read_only(const std::string& path, const std::string& where);

template <class T>
T checked(T value, const char* statement, const char* file, int line) {
  if (value < 0)
    lockstep::detail::throw_call_failed("HDF5", statement, file, line, error_stack_message());
  return value;
}

/// Shape of a dataspace (empty for scalar or null spaces).
std::vector<int64_t> extent(hid_t space);
/// "uint8", "int64", "float32", "string", "compound", ...
std::string dtype_name(hid_t type);
/// "(60000, 1, 28, 28)"
std::string shape_string(const std::vector<int64_t>& shape);

/// True when `path` ("/a/b") names an existing link; intermediate groups are
/// checked one by one so a missing parent is "false", not an HDF5 error.
bool link_exists(hid_t loc, const std::string& path);
/// The type of the object at `path` (H5I_DATASET, H5I_GROUP, ...), or
/// H5I_BADID when there is none.
H5I_type_t object_type(hid_t loc, const std::string& path);

struct ObjectEntry {
  std::string path;  // absolute, "/layout/names"
  H5I_type_t type;
};
/// Every group and dataset below the root, depth first in name order.
std::vector<ObjectEntry> list_objects(hid_t file);

/// Scalar UTF-8 variable-length string attribute.
void write_string_attribute(hid_t loc, const char* name, const std::string& value);
/// 1-D variable-length string attribute.
void write_strings_attribute(hid_t loc, const char* name, const std::vector<std::string>& values);
/// Scalar int64 attribute.
void write_int64_attribute(hid_t loc, const char* name, int64_t value);
/// 1-D int64 attribute.
void write_int64s_attribute(hid_t loc, const char* name, const std::vector<int64_t>& values);
/// Scalar float64 attribute, and reading one back (any float or integer type).
void write_double_attribute(hid_t loc, const char* name, double value);
double read_double_attribute(hid_t loc, const char* name);

/// Reads a string attribute (fixed or variable length, scalar or 1-D) as a
/// list of strings. Throws when it is not a string attribute.
std::vector<std::string> read_strings_attribute(hid_t loc, const char* name);
/// Reads a scalar string attribute (the first entry of a string array).
std::string read_string_attribute(hid_t loc, const char* name);
/// True when `loc` has an attribute `name`.
bool has_attribute(hid_t loc, const char* name);
/// Reads an integer attribute (scalar or 1-D) as int64.
std::vector<int64_t> read_int64s_attribute(hid_t loc, const char* name);

/// Writes a new HDF5 file at `path` atomically: creates the parent folder if
/// missing, creates `<path>.tmp.<pid>`, calls `write(file)`, flushes, closes,
/// fsyncs and renames it over `path`. On any error the temporary file is
/// removed and `path` is left as it was. `what` names the file in errors
/// ("dataset file", "model file"); a full disk or the file size limit is said
/// to be one. `in_memory`: the file is built in memory (HDF5's core driver) and
/// written with plain write(2) calls, so that a failing write never leaves
/// HDF5 holding a half-closed file (HDF5 1.10 then crashes at exit); for files
/// that fit in memory twice (models, checkpoints).
void write_atomically(const std::string& path, const char* what,
                      const std::function<void(hid_t file)>& write, bool in_memory = false);

/// 1-D dataset of strings (variable length).
void write_strings_dataset(hid_t loc, const char* name, const std::vector<std::string>& values);
std::vector<std::string> read_strings_dataset(hid_t loc, const char* name);

}  // namespace lockstep::io::h5

/// Checks an HDF5 call: a negative result throws lockstep::Error naming the call,
/// file:line and HDF5's own reason. Evaluates to the call's result.
#define LOCKSTEP_HDF5_CHECK(call) ::lockstep::io::h5::checked((call), #call, __FILE__, __LINE__)
