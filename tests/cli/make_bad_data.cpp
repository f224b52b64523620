// Writes the malformed inputs the CLI tests feed to `lockstep train`/`eval`:
//   make_bad_data DIR
// good.h5 (valid, 64 samples), count_mismatch.h5, int16_features.h5,
// empty.h5, bad_label.h5 (a class id of 12 for a 10-class model),
// tiny.h5 (3 samples), truncated.h5 (the first half of good.h5),
// not_hdf5.h5 (text), float_targets.h5 (regression labels for a classifier).

#include <hdf5.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace {

void write(hid_t file, const char* name, hid_t type, std::vector<hsize_t> dims, const void* data) {
  const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  const hid_t ds = H5Dcreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (data) H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  H5Dclose(ds);
  H5Sclose(space);
}

// features (n, 1, 4, 4) of `ftype`, labels (m,) int32 or (m, 2) float.
void make(const std::string& path, hsize_t n, hsize_t m, hid_t ftype, int max_label,
          bool float_labels = false) {
  const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  std::vector<float> f(n * 16);
  for (size_t i = 0; i < f.size(); ++i) f[i] = static_cast<float>(i % 13) / 13.0f;
  std::vector<short> s(f.begin(), f.end());
  write(file, "/features", ftype, {n, 1, 4, 4},
        n == 0 ? nullptr
               : (ftype == H5T_NATIVE_SHORT ? static_cast<const void*>(s.data()) : f.data()));
  if (float_labels) {
    std::vector<float> t(m * 2, 0.5f);
    write(file, "/labels", H5T_NATIVE_FLOAT, {m, 2}, m == 0 ? nullptr : t.data());
  } else {
    std::vector<int> l(m);
    for (size_t i = 0; i < m; ++i) l[i] = static_cast<int>(i % 10);
    if (m > 5) l[5] = max_label;
    write(file, "/labels", H5T_NATIVE_INT, {m}, m == 0 ? nullptr : l.data());
  }
  H5Fclose(file);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_bad_data DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  make(dir + "/good.h5", 64, 64, H5T_NATIVE_FLOAT, 9);
  make(dir + "/count_mismatch.h5", 64, 60, H5T_NATIVE_FLOAT, 9);
  make(dir + "/int16_features.h5", 64, 64, H5T_NATIVE_SHORT, 9);
  make(dir + "/empty.h5", 0, 0, H5T_NATIVE_FLOAT, 9);
  make(dir + "/bad_label.h5", 64, 64, H5T_NATIVE_FLOAT, 12);
  make(dir + "/tiny.h5", 3, 3, H5T_NATIVE_FLOAT, 2);
  make(dir + "/float_targets.h5", 64, 64, H5T_NATIVE_FLOAT, 9, true);
  {
    std::ifstream in(dir + "/good.h5", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(dir + "/truncated.h5", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  std::ofstream(dir + "/not_hdf5.h5") << "this is not an HDF5 file\n";
  return 0;
}
