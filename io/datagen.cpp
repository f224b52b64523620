#include "io/datagen.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/rng.hpp"
#include "io/hdf5.hpp"

namespace lockstep::io {

std::vector<int64_t> parse_shape(const std::string& text) {
  std::vector<int64_t> shape;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, 'x')) {
    size_t used = 0;
    int64_t v = 0;
    try {
      v = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    LOCKSTEP_CHECK(used == part.size() && !part.empty() && v > 0,
                   "shape '" << text << "': expected positive sizes like 3x64x64");
    shape.push_back(v);
  }
  LOCKSTEP_CHECK(shape.size() == 3, "shape '" << text << "': expected C x H x W, e.g. 3x64x64");
  return shape;
}

namespace {

constexpr int kBlobsPerClass = 4;

// A bank of 2K soft coloured blobs (2K, C, H, W), drawn from the class seed.
std::vector<float> blob_bank(const DatagenOptions& o) {
  const int64_t c = o.shape[0], h = o.shape[1], w = o.shape[2], count = 2 * o.classes;
  std::vector<float> bank(static_cast<size_t>(count * c * h * w), 0.0f);
  for (int64_t b = 0; b < count; ++b) {
    Rng rng(hash_keys({o.class_seed, 0xB10Bull, static_cast<uint64_t>(b)}));
    const double cy = rng.uniform() * static_cast<double>(h);
    const double cx = rng.uniform() * static_cast<double>(w);
    const double r = (0.06 + 0.14 * rng.uniform()) * static_cast<double>(std::min(h, w));
    std::vector<double> colour(static_cast<size_t>(c));
    for (double& v : colour) v = 0.2 + 0.8 * rng.uniform();
    float* p = bank.data() + b * c * h * w;
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        const double d2 = (static_cast<double>(y) - cy) * (static_cast<double>(y) - cy) +
                          (static_cast<double>(x) - cx) * (static_cast<double>(x) - cx);
        const double a = std::exp(-d2 / (2 * r * r));
        for (int64_t ch = 0; ch < c; ++ch)
          p[(ch * h + y) * w + x] = static_cast<float>(a * colour[static_cast<size_t>(ch)]);
      }
  }
  return bank;
}

// The blobs of each class: kBlobsPerClass distinct indices into the bank, so
// classes share blobs and differ in their combination.
std::vector<int64_t> class_blobs(const DatagenOptions& o) {
  std::vector<int64_t> out;
  for (int64_t k = 0; k < o.classes; ++k) {
    Rng rng(hash_keys({o.class_seed, 0xC1A55ull, static_cast<uint64_t>(k)}));
    std::vector<int64_t> picks;
    while (static_cast<int>(picks.size()) < kBlobsPerClass) {
      const auto b = static_cast<int64_t>(rng.below(static_cast<uint64_t>(2 * o.classes)));
      if (std::find(picks.begin(), picks.end(), b) == picks.end()) picks.push_back(b);
    }
    out.insert(out.end(), picks.begin(), picks.end());
  }
  return out;
}

// Sample `row`: label and pixels in [0, 1] (C, H, W) into `out`: the class's
// blobs, each kept with probability 0.75 at a random weight, shifted
// together, plus noise.
int32_t render(const DatagenOptions& o, const std::vector<float>& bank,
               const std::vector<int64_t>& blobs, int64_t row, float* out) {
  const int64_t c = o.shape[0], h = o.shape[1], w = o.shape[2], n = c * h * w;
  const uint64_t key = hash_keys({o.seed, static_cast<uint64_t>(row)});
  Rng rng(key);
  const auto label = static_cast<int32_t>(rng.below(static_cast<uint64_t>(o.classes)));
  const int64_t span = 2 * o.max_shift + 1;
  const int64_t dy = static_cast<int64_t>(rng.below(static_cast<uint64_t>(span))) - o.max_shift;
  const int64_t dx = static_cast<int64_t>(rng.below(static_cast<uint64_t>(span))) - o.max_shift;
  std::fill(out, out + n, 0.0f);
  for (int j = 0; j < kBlobsPerClass; ++j) {
    const double weight = rng.uniform() < 0.75 ? 0.5 + rng.uniform() : 0.0;
    if (weight == 0.0) continue;
    const float* p = bank.data() + blobs[static_cast<size_t>(label * kBlobsPerClass + j)] * n;
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t y = 0; y < h; ++y) {
        const int64_t sy = y - dy;
        if (sy < 0 || sy >= h) continue;
        for (int64_t x = 0; x < w; ++x) {
          const int64_t sx = x - dx;
          if (sx >= 0 && sx < w)
            out[(ch * h + y) * w + x] += static_cast<float>(weight) * p[(ch * h + sy) * w + sx];
        }
      }
  }
  for (int64_t i = 0; i < n; ++i) {
    // Approximately normal noise from four counter-based uniforms (sd 1).
    const double u = uniform_at(key, 4 * static_cast<uint64_t>(i)) +
                     uniform_at(key, 4 * static_cast<uint64_t>(i) + 1) +
                     uniform_at(key, 4 * static_cast<uint64_t>(i) + 2) +
                     uniform_at(key, 4 * static_cast<uint64_t>(i) + 3) - 2.0;
    out[i] = static_cast<float>(std::clamp(out[i] + o.noise * u * 1.7320508, 0.0, 1.0));
  }
  return label;
}

}  // namespace

void generate_image_dataset(const DatagenOptions& o) {
  const std::string where = "datagen '" + o.path + "'";
  LOCKSTEP_CHECK(o.samples > 0, where << ": expected --samples > 0, got " << o.samples);
  LOCKSTEP_CHECK(o.shape.size() == 3, where << ": expected a C x H x W shape");
  LOCKSTEP_CHECK(o.classes >= 2 && o.classes <= 100000,
                 where << ": expected 2 or more classes, got " << o.classes);
  LOCKSTEP_CHECK(o.noise >= 0, where << ": expected noise >= 0, got " << o.noise);
  LOCKSTEP_CHECK(o.max_shift >= 0, where << ": expected shift >= 0, got " << o.max_shift);
  const int64_t sample = o.shape[0] * o.shape[1] * o.shape[2];
  const bool u8 = o.dtype == FeatureType::kUint8;
  const int64_t bytes_per_row = sample * (u8 ? 1 : 4);
  const int64_t chunk_rows = std::clamp<int64_t>((1 << 20) / bytes_per_row, 1, o.samples);
  const std::vector<float> bank = blob_bank(o);
  const std::vector<int64_t> blobs = class_blobs(o);

  h5::write_atomically(o.path, "dataset file", [&](hid_t file) {
    std::vector<hsize_t> dims{static_cast<hsize_t>(o.samples)};
    for (int64_t d : o.shape) dims.push_back(static_cast<hsize_t>(d));
    std::vector<hsize_t> chunk = dims;
    chunk[0] = static_cast<hsize_t>(chunk_rows);
    auto create = [&](const char* name, hid_t type, const std::vector<hsize_t>& d,
                      const std::vector<hsize_t>& ch) {
      h5::Dataspace space{
          LOCKSTEP_HDF5_CHECK(H5Screate_simple(static_cast<int>(d.size()), d.data(), nullptr))};
      h5::PropList props{LOCKSTEP_HDF5_CHECK(H5Pcreate(H5P_DATASET_CREATE))};
      LOCKSTEP_HDF5_CHECK(H5Pset_chunk(props.get(), static_cast<int>(ch.size()), ch.data()));
      if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0)
        LOCKSTEP_HDF5_CHECK(H5Pset_deflate(props.get(), 1));
      return h5::Dataset{LOCKSTEP_HDF5_CHECK(
          H5Dcreate2(file, name, type, space.get(), H5P_DEFAULT, props.get(), H5P_DEFAULT))};
    };
    h5::Dataset features = create("/features", u8 ? H5T_STD_U8LE : H5T_IEEE_F32LE, dims, chunk);
    h5::Dataset labels = create("/labels", H5T_STD_I32LE, {dims[0]},
                                {static_cast<hsize_t>(std::min<int64_t>(o.samples, 1 << 16))});
    std::vector<float> pixels(static_cast<size_t>(chunk_rows * sample));
    std::vector<uint8_t> bytes(u8 ? pixels.size() : 0);
    std::vector<int32_t> ids(static_cast<size_t>(chunk_rows));
    for (int64_t begin = 0; begin < o.samples; begin += chunk_rows) {
      const int64_t n = std::min(chunk_rows, o.samples - begin);
      for (int64_t r = 0; r < n; ++r)
        ids[static_cast<size_t>(r)] = render(o, bank, blobs, begin + r, pixels.data() + r * sample);
      std::vector<hsize_t> start(dims.size(), 0), count = dims;
      start[0] = static_cast<hsize_t>(begin);
      count[0] = static_cast<hsize_t>(n);
      h5::Dataspace fspace{LOCKSTEP_HDF5_CHECK(H5Dget_space(features.get()))};
      LOCKSTEP_HDF5_CHECK(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr,
                                              count.data(), nullptr));
      h5::Dataspace mspace{LOCKSTEP_HDF5_CHECK(
          H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr))};
      if (u8) {
        for (int64_t i = 0; i < n * sample; ++i)
          bytes[static_cast<size_t>(i)] =
              static_cast<uint8_t>(std::lround(pixels[static_cast<size_t>(i)] * 255.0f));
        LOCKSTEP_HDF5_CHECK(H5Dwrite(features.get(), H5T_NATIVE_UINT8, mspace.get(), fspace.get(),
                                     H5P_DEFAULT, bytes.data()));
      } else {
        LOCKSTEP_HDF5_CHECK(H5Dwrite(features.get(), H5T_NATIVE_FLOAT, mspace.get(), fspace.get(),
                                     H5P_DEFAULT, pixels.data()));
      }
      h5::Dataspace lspace{LOCKSTEP_HDF5_CHECK(H5Dget_space(labels.get()))};
      LOCKSTEP_HDF5_CHECK(H5Sselect_hyperslab(lspace.get(), H5S_SELECT_SET, &start[0], nullptr,
                                              &count[0], nullptr));
      h5::Dataspace lmem{LOCKSTEP_HDF5_CHECK(H5Screate_simple(1, &count[0], nullptr))};
      LOCKSTEP_HDF5_CHECK(H5Dwrite(labels.get(), H5T_NATIVE_INT32, lmem.get(), lspace.get(),
                                   H5P_DEFAULT, ids.data()));
    }
    h5::write_string_attribute(file, "lockstep_format", "dataset/1");
    h5::write_string_attribute(features.get(), "layout", "nchw");
    h5::write_string_attribute(file, "generator", "lockstep datagen");
    h5::write_int64_attribute(file, "seed", static_cast<int64_t>(o.seed));
    h5::write_int64_attribute(file, "class_seed", static_cast<int64_t>(o.class_seed));
  });
}

}  // namespace lockstep::io
