// Shared HDF5 helpers of io/ (see hdf5.hpp). Strings are written as UTF-8
// fixed-length, NUL-padded strings (h5py reads them as bytes); reading accepts
// variable-length strings too (files of older lockstep versions, other tools).

#include "io/hdf5.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>

namespace lockstep::io::h5 {

namespace {

herr_t collect_error(unsigned /*n*/, const H5E_error2_t* err, void* data) {
  auto* messages = static_cast<std::vector<std::string>*>(data);
  if (err->desc != nullptr && err->desc[0] != '\0') messages->emplace_back(err->desc);
  return 0;
}

Datatype vlen_string_type(H5T_cset_t cset) {
  Datatype type{LOCKSTEP_HDF5_CHECK(H5Tcopy(H5T_C_S1))};
  LOCKSTEP_HDF5_CHECK(H5Tset_size(type.get(), H5T_VARIABLE));
  LOCKSTEP_HDF5_CHECK(H5Tset_cset(type.get(), cset));
  return type;
}

// Fixed-length UTF-8 strings as wide as the longest value (NUL-padded), and
// the values packed into one buffer. Written instead of variable-length
// strings so that no file of ours needs HDF5's global heap: HDF5 1.10 reads a
// damaged global heap out of bounds (found by tests/io/fuzz_test.cpp).
struct FixedStrings {
  Datatype type;
  std::vector<char> buffer;
};

FixedStrings fixed_strings(const std::vector<std::string>& values) {
  size_t width = 1;
  for (const auto& v : values) width = std::max(width, v.size());
  FixedStrings out{Datatype{LOCKSTEP_HDF5_CHECK(H5Tcopy(H5T_C_S1))},
                   std::vector<char>(values.size() * width + 1, '\0')};
  LOCKSTEP_HDF5_CHECK(H5Tset_size(out.type.get(), width));
  LOCKSTEP_HDF5_CHECK(H5Tset_strpad(out.type.get(), H5T_STR_NULLPAD));
  LOCKSTEP_HDF5_CHECK(H5Tset_cset(out.type.get(), H5T_CSET_UTF8));
  for (size_t i = 0; i < values.size(); ++i)
    std::memcpy(out.buffer.data() + i * width, values[i].data(), values[i].size());
  return out;
}

Dataspace vector_space(size_t n) {
  const hsize_t dims[1] = {n};
  return Dataspace{LOCKSTEP_HDF5_CHECK(H5Screate_simple(1, dims, nullptr))};
}

// A damaged header can claim more values than the file holds: refuse `n`
// values of at least `bytes` each before allocating them.
void check_count(hid_t obj, size_t n, size_t bytes, const char* what) {
  const Handle<H5Fclose> file{LOCKSTEP_HDF5_CHECK(H5Iget_file_id(obj))};
  hsize_t size = 0;
  LOCKSTEP_HDF5_CHECK(H5Fget_filesize(file.get(), &size));
  LOCKSTEP_CHECK(n <= size / std::max<size_t>(bytes, 1),
                 what << " claims " << n << " values, more than the file's " << size
                      << " bytes hold: the file is corrupt");
}

// Reads `n` strings stored with `file_type`; `read(mem_type, buffer)` performs
// the H5Aread/H5Dread.
template <class Read>
std::vector<std::string> read_strings(hid_t file_type, size_t n, const char* what, Read read) {
  LOCKSTEP_CHECK(H5Tget_class(file_type) == H5T_STRING,
                 what << ": expected strings, found " << dtype_name(file_type));
  std::vector<std::string> out;
  out.reserve(n);
  const htri_t is_variable = LOCKSTEP_HDF5_CHECK(H5Tis_variable_str(file_type));
  if (is_variable > 0) {
    Datatype mem = vlen_string_type(H5Tget_cset(file_type));
    std::vector<char*> buffer(n, nullptr);
    if (n > 0) read(mem.get(), buffer.data());
    for (char* s : buffer) {
      out.emplace_back(s != nullptr ? s : "");
      if (s != nullptr) H5free_memory(s);
    }
    return out;
  }
  const size_t size = H5Tget_size(file_type);
  std::vector<char> buffer(n * size + 1, '\0');
  if (n > 0) read(file_type, buffer.data());
  for (size_t i = 0; i < n; ++i) {
    const char* s = buffer.data() + i * size;
    out.emplace_back(s, strnlen(s, size));
  }
  return out;
}

}  // namespace

std::string error_stack_message() {
  std::vector<std::string> messages;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, collect_error, &messages);
  H5Eclear2(H5E_DEFAULT);
  if (messages.empty()) return "";
  // Upward: the innermost (most specific) reason first, the API-level one last.
  if (messages.size() == 1 || messages.front() == messages.back()) return messages.front();
  return messages.back() + " (" + messages.front() + ")";
}

hid_t open_read_only(const std::string& path, const std::string& where) {
  silence_errors();
  const hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0)
    throw Error(where +
                ": cannot open as HDF5 (damaged or truncated file?): " + error_stack_message());
  return id;
}

void silence_errors() {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

std::vector<int64_t> extent(hid_t space) {
  const int rank = LOCKSTEP_HDF5_CHECK(H5Sget_simple_extent_ndims(space));
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  if (rank > 0) LOCKSTEP_HDF5_CHECK(H5Sget_simple_extent_dims(space, dims.data(), nullptr));
  return {dims.begin(), dims.end()};
}

std::string dtype_name(hid_t type) {
  std::string bits = std::to_string(H5Tget_size(type) * 8);
  switch (H5Tget_class(type)) {
    case H5T_INTEGER:
      return bits.insert(0, H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int");
    case H5T_FLOAT:
      return bits.insert(0, "float");
    case H5T_STRING:
      return "string";
    case H5T_COMPOUND:
      return "compound";
    case H5T_ENUM:
      return "enum";
    case H5T_ARRAY:
      return "array";
    case H5T_VLEN:
      return "vlen";
    case H5T_OPAQUE:
      return "opaque";
    case H5T_BITFIELD:
      return "bitfield";
    case H5T_REFERENCE:
      return "reference";
    case H5T_TIME:
      return "time";
    default:
      return "unknown";
  }
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << (shape.size() == 1 ? ",)" : ")");
  return os.str();
}

bool link_exists(hid_t loc, const std::string& path) {
  if (path.empty() || path == "/") return true;
  size_t pos = path[0] == '/' ? 1 : 0;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    if (next > pos && H5Lexists(loc, path.substr(0, next).c_str(), H5P_DEFAULT) <= 0) return false;
    pos = next + 1;
  }
  return true;
}

H5I_type_t object_type(hid_t loc, const std::string& path) {
  if (!link_exists(loc, path)) return H5I_BADID;
  Object obj{H5Oopen(loc, path.c_str(), H5P_DEFAULT)};
  if (!obj) {
    H5Eclear2(H5E_DEFAULT);  // a dangling soft link
    return H5I_BADID;
  }
  return H5Iget_type(obj.get());
}

namespace {

struct LinkList {
  std::vector<std::string> hard_links;
};

herr_t collect_link(hid_t /*group*/, const char* name, const H5L_info_t* info, void* data) {
  if (info->type == H5L_TYPE_HARD) static_cast<LinkList*>(data)->hard_links.emplace_back(name);
  return 0;
}

void list_group(hid_t group, const std::string& prefix, std::vector<ObjectEntry>& out) {
  LinkList links;
  hsize_t index = 0;
  LOCKSTEP_HDF5_CHECK(H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &index, collect_link, &links));
  for (const auto& name : links.hard_links) {
    Object obj{LOCKSTEP_HDF5_CHECK(H5Oopen(group, name.c_str(), H5P_DEFAULT))};
    const H5I_type_t type = H5Iget_type(obj.get());
    out.push_back({prefix + name, type});
    if (type == H5I_GROUP) list_group(obj.get(), prefix + name + "/", out);
  }
}

}  // namespace

std::vector<ObjectEntry> list_objects(hid_t file) {
  std::vector<ObjectEntry> out;
  Group root{LOCKSTEP_HDF5_CHECK(H5Gopen2(file, "/", H5P_DEFAULT))};
  list_group(root.get(), "/", out);
  return out;
}

void write_string_attribute(hid_t loc, const char* name, const std::string& value) {
  FixedStrings strings = fixed_strings({value});
  Dataspace space{LOCKSTEP_HDF5_CHECK(H5Screate(H5S_SCALAR))};
  Attribute attr{LOCKSTEP_HDF5_CHECK(
      H5Acreate2(loc, name, strings.type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT))};
  LOCKSTEP_HDF5_CHECK(H5Awrite(attr.get(), strings.type.get(), strings.buffer.data()));
}

void write_strings_attribute(hid_t loc, const char* name, const std::vector<std::string>& values) {
  FixedStrings strings = fixed_strings(values);
  Dataspace space = vector_space(values.size());
  Attribute attr{LOCKSTEP_HDF5_CHECK(
      H5Acreate2(loc, name, strings.type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT))};
  if (!values.empty())
    LOCKSTEP_HDF5_CHECK(H5Awrite(attr.get(), strings.type.get(), strings.buffer.data()));
}

void write_int64_attribute(hid_t loc, const char* name, int64_t value) {
  Dataspace space{LOCKSTEP_HDF5_CHECK(H5Screate(H5S_SCALAR))};
  Attribute attr{LOCKSTEP_HDF5_CHECK(
      H5Acreate2(loc, name, H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT))};
  LOCKSTEP_HDF5_CHECK(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value));
}

void write_double_attribute(hid_t loc, const char* name, double value) {
  Dataspace space{LOCKSTEP_HDF5_CHECK(H5Screate(H5S_SCALAR))};
  Attribute attr{LOCKSTEP_HDF5_CHECK(
      H5Acreate2(loc, name, H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT))};
  LOCKSTEP_HDF5_CHECK(H5Awrite(attr.get(), H5T_NATIVE_DOUBLE, &value));
}

double read_double_attribute(hid_t loc, const char* name) {
  Attribute attr{LOCKSTEP_HDF5_CHECK(H5Aopen(loc, name, H5P_DEFAULT))};
  Datatype type{LOCKSTEP_HDF5_CHECK(H5Aget_type(attr.get()))};
  Dataspace space{LOCKSTEP_HDF5_CHECK(H5Aget_space(attr.get()))};
  const H5T_class_t cls = H5Tget_class(type.get());
  LOCKSTEP_CHECK(
      (cls == H5T_FLOAT || cls == H5T_INTEGER) && H5Sget_simple_extent_npoints(space.get()) == 1,
      "attribute '" << name << "': expected one number, found " << dtype_name(type.get()));
  double value = 0;
  LOCKSTEP_HDF5_CHECK(H5Aread(attr.get(), H5T_NATIVE_DOUBLE, &value));
  return value;
}

bool has_attribute(hid_t loc, const char* name) {
  return LOCKSTEP_HDF5_CHECK(H5Aexists(loc, name)) > 0;
}

void write_int64s_attribute(hid_t loc, const char* name, const std::vector<int64_t>& values) {
  Dataspace space = vector_space(values.size());
  Attribute attr{LOCKSTEP_HDF5_CHECK(
      H5Acreate2(loc, name, H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT))};
  if (!values.empty()) LOCKSTEP_HDF5_CHECK(H5Awrite(attr.get(), H5T_NATIVE_INT64, values.data()));
}

std::vector<std::string> read_strings_attribute(hid_t loc, const char* name) {
  Attribute attr{LOCKSTEP_HDF5_CHECK(H5Aopen(loc, name, H5P_DEFAULT))};
  Datatype type{LOCKSTEP_HDF5_CHECK(H5Aget_type(attr.get()))};
  Dataspace space{LOCKSTEP_HDF5_CHECK(H5Aget_space(attr.get()))};
  const auto n =
      static_cast<size_t>(LOCKSTEP_HDF5_CHECK(H5Sget_simple_extent_npoints(space.get())));
  const std::string what = std::string("attribute '") + name + "'";
  check_count(attr.get(), n, 1, what.c_str());
  return read_strings(type.get(), n, what.c_str(), [&](hid_t mem, void* buffer) {
    LOCKSTEP_HDF5_CHECK(H5Aread(attr.get(), mem, buffer));
  });
}

std::string read_string_attribute(hid_t loc, const char* name) {
  const auto values = read_strings_attribute(loc, name);
  return values.empty() ? std::string() : values.front();
}

std::vector<int64_t> read_int64s_attribute(hid_t loc, const char* name) {
  Attribute attr{LOCKSTEP_HDF5_CHECK(H5Aopen(loc, name, H5P_DEFAULT))};
  Datatype type{LOCKSTEP_HDF5_CHECK(H5Aget_type(attr.get()))};
  LOCKSTEP_CHECK(H5Tget_class(type.get()) == H5T_INTEGER,
                 "attribute '" << name << "': expected integers, found " << dtype_name(type.get()));
  Dataspace space{LOCKSTEP_HDF5_CHECK(H5Aget_space(attr.get()))};
  const auto n =
      static_cast<size_t>(LOCKSTEP_HDF5_CHECK(H5Sget_simple_extent_npoints(space.get())));
  check_count(attr.get(), n, 1, (std::string("attribute '") + name + "'").c_str());
  std::vector<int64_t> values(n);
  if (n > 0) LOCKSTEP_HDF5_CHECK(H5Aread(attr.get(), H5T_NATIVE_INT64, values.data()));
  return values;
}

void write_strings_dataset(hid_t loc, const char* name, const std::vector<std::string>& values) {
  FixedStrings strings = fixed_strings(values);
  Dataspace space = vector_space(values.size());
  Dataset ds{LOCKSTEP_HDF5_CHECK(H5Dcreate2(loc, name, strings.type.get(), space.get(), H5P_DEFAULT,
                                            H5P_DEFAULT, H5P_DEFAULT))};
  if (!values.empty()) {
    LOCKSTEP_HDF5_CHECK(H5Dwrite(ds.get(), strings.type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                 strings.buffer.data()));
  }
}

std::vector<std::string> read_strings_dataset(hid_t loc, const char* name) {
  Dataset ds{LOCKSTEP_HDF5_CHECK(H5Dopen2(loc, name, H5P_DEFAULT))};
  Datatype type{LOCKSTEP_HDF5_CHECK(H5Dget_type(ds.get()))};
  Dataspace space{LOCKSTEP_HDF5_CHECK(H5Dget_space(ds.get()))};
  const auto n =
      static_cast<size_t>(LOCKSTEP_HDF5_CHECK(H5Sget_simple_extent_npoints(space.get())));
  const std::string what = std::string("dataset '") + name + "'";
  check_count(ds.get(), n, 1, what.c_str());
  return read_strings(type.get(), n, what.c_str(), [&](hid_t mem, void* buffer) {
    LOCKSTEP_HDF5_CHECK(H5Dread(ds.get(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer));
  });
}

namespace {

// errno values of a full disk or of the file size limit, as HDF5 reports them.
bool out_of_space(const std::string& message) {
  for (const char* s : {"errno = 27,", "errno = 28,", "errno = 122,", "File too large",
                        "No space left", "quota exceeded"}) {
    if (message.find(s) != std::string::npos) return true;
  }
  return false;
}

// fsync of a file or folder; false (errno set) on failure.
bool sync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0 || errno == EINVAL;  // EINVAL: cannot be synced (e.g. a pipe)
  ::close(fd);
  return ok;
}

// Writes `bytes` to a new file and fsyncs it; errors carry errno's text.
void write_file(const std::string& path, const std::vector<char>& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  LOCKSTEP_CHECK(fd >= 0, "cannot create '" << path << "': " << std::strerror(errno));
  size_t done = 0;
  int error = 0;
  while (done < bytes.size() && error == 0) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n > 0) done += static_cast<size_t>(n);
    if (n < 0 && errno != EINTR) error = errno;
  }
  if (error == 0 && ::fsync(fd) != 0) error = errno;
  if (::close(fd) != 0 && error == 0) error = errno;
  LOCKSTEP_CHECK(error == 0, "cannot write '" << path << "' (" << done << " of " << bytes.size()
                                              << " bytes written): " << std::strerror(error));
}

}  // namespace

void write_atomically(const std::string& path, const char* what,
                      const std::function<void(hid_t file)>& write, bool in_memory) {
  namespace fs = std::filesystem;
  silence_errors();
  // A write past the file size limit (ulimit -f) raises SIGXFSZ, whose default
  // action kills the process; ignored, the write fails with EFBIG and is
  // reported like a full disk, leaving the previous file in place.
  std::signal(SIGXFSZ, SIG_IGN);
  LOCKSTEP_CHECK(!path.empty(), what << ": no path given");
  const fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty() && !fs::exists(parent, ec)) {
    fs::create_directories(parent, ec);
    LOCKSTEP_CHECK(!ec, what << " '" << path << "': cannot create folder '" << parent.string()
                             << "': " << ec.message());
  }
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  try {
    // Format versions of HDF5 1.8+: checksummed superblock and object headers,
    // so damaged metadata is an error on open rather than a wrong value.
    PropList fapl{LOCKSTEP_HDF5_CHECK(H5Pcreate(H5P_FILE_ACCESS))};
    if (!in_memory)  // (a file image of an open 1.8-format file has a stale superblock checksum)
      LOCKSTEP_HDF5_CHECK(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V18, H5F_LIBVER_V18));
    if (in_memory) LOCKSTEP_HDF5_CHECK(H5Pset_fapl_core(fapl.get(), size_t{16} << 20, 0));
    File file{H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get())};
    LOCKSTEP_CHECK(file, what << " '" << path << "': cannot create '" << tmp
                              << "': " << error_stack_message());
    write(file.get());
    LOCKSTEP_HDF5_CHECK(H5Fflush(file.get(), H5F_SCOPE_GLOBAL));
    if (in_memory) {
      const ssize_t size = LOCKSTEP_HDF5_CHECK(H5Fget_file_image(file.get(), nullptr, 0));
      std::vector<char> image(static_cast<size_t>(size));
      LOCKSTEP_HDF5_CHECK(H5Fget_file_image(file.get(), image.data(), image.size()));
      LOCKSTEP_HDF5_CHECK(H5Fclose(file.release()));
      write_file(tmp, image);  // fsynced
    } else {
      LOCKSTEP_HDF5_CHECK(H5Fclose(file.release()));  // a failed close is reported, not ignored
      // The data reaches the disk before the new name is visible.
      LOCKSTEP_CHECK(sync_path(tmp, O_RDONLY),
                     "cannot fsync '" << tmp << "': " << std::strerror(errno));
    }
  } catch (const Error& e) {
    fs::remove(tmp, ec);
    const std::string message = e.what();
    if (out_of_space(message)) {
      throw Error(std::string(what) + " '" + path +
                  "': the disk is full or the file size limit (ulimit -f) was hit while "
                  "writing '" +
                  tmp + "'; the previous file, if any, is left as it was (" + message + ")");
    }
    if (message.find(path) != std::string::npos) throw;
    throw Error(std::string(what) + " '" + path + "': " + message);  // name the file
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    fs::remove(tmp, ec);
    LOCKSTEP_FAIL(what << " '" << path << "': cannot rename '" << tmp << "' to it: " << reason);
  }
  // The rename itself reaches the disk (best effort: not every file system
  // can sync a folder).
  sync_path(parent.empty() ? "." : parent.string(), O_RDONLY | O_DIRECTORY);
}

}  // namespace lockstep::io::h5
