#pragma once
// Helpers shared by the io test suites: a per-test temporary folder, a check
// that a call throws lockstep::Error with a message containing given words, and
// a raw HDF5 writer for files lockstep itself would never write (wrong dtypes,
// ranks, names), built on the io/hdf5.hpp owners.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/hdf5.hpp"

namespace lockstep::io::test {

/// A fresh folder under testing::TempDir(), unique per test and process,
/// removed when the test ends.
class TempFolder {
 public:
  TempFolder() {
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string("lockstep_io_") + info->test_suite_name() + "_" + info->name() +
                       "_" + std::to_string(getpid());
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    path_ = std::filesystem::path(testing::TempDir()) / name;
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempFolder() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;

  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }
  /// Names of the entries in the folder (to spot leftover temporary files).
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path_)) {
      out.push_back(e.path().filename().string());
    }
    return out;
  }

 private:
  std::filesystem::path path_;
};

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

/// The message of the lockstep::Error thrown by `f` ("" and a failure if none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const lockstep::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected lockstep::Error, got another exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected lockstep::Error, nothing was thrown";
  return "";
}

/// Passes when `text` contains every word of `words`.
inline testing::AssertionResult contains_all(const std::string& text,
                                             std::initializer_list<std::string> words) {
  for (const auto& w : words) {
    if (text.find(w) == std::string::npos) {
      return testing::AssertionFailure() << "'" << w << "' not found in: " << text;
    }
  }
  return testing::AssertionSuccess();
}

/// Writes arbitrary datasets with the raw HDF5 API.
class RawFile {
 public:
  explicit RawFile(const std::string& path)
      : file_(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)) {
    EXPECT_TRUE(file_) << "cannot create " << path;
  }
  hid_t get() const { return file_.get(); }

  /// A dataset of `file_type` and shape `dims`, filled from `data` read as `mem_type`.
  void add(const std::string& name, hid_t file_type, hid_t mem_type,
           const std::vector<hsize_t>& dims, const void* data) {
    h5::Dataspace space{H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr)};
    h5::PropList lcpl{H5Pcreate(H5P_LINK_CREATE)};
    H5Pset_create_intermediate_group(lcpl.get(), 1);
    h5::Dataset ds{H5Dcreate2(file_.get(), name.c_str(), file_type, space.get(), lcpl.get(),
                              H5P_DEFAULT, H5P_DEFAULT)};
    ASSERT_TRUE(ds) << name;
    hsize_t n = 1;
    for (hsize_t d : dims) n *= d;
    if (n > 0) {
      ASSERT_GE(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), 0) << name;
    }
  }

 private:
  h5::File file_;
};

}  // namespace lockstep::io::test
