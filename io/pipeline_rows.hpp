#pragma once
// Internal to io/pipeline.cpp: the pieces of the input pipeline that read and
// hold rows — sizes of stored and batch rows, the normaliser (the formula and
// rounding of Shard::gather_features), chunk-aligned hyperslab reads with a
// chunk cache, the streaming RowReader and the bounded RowStore shuffle buffer.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "io/dataset.hpp"
#include "io/hdf5.hpp"
#include "io/normaliser.hpp"
#include "io/pipeline.hpp"
#include "io/rows.hpp"

namespace lockstep::io::pipeline_detail {

constexpr int64_t kFallbackPieceBytes = int64_t{1} << 20;
constexpr size_t kDefaultChunkCache = size_t{1} << 20;  // HDF5's default rdcc_nbytes
constexpr uint64_t kPieceSalt = 0x7069656365ull;        // separates the two stream Rngs
constexpr uint64_t kDrawSalt = 0x64726177ull;

inline size_t feature_size(FeatureType t) {
  return t == FeatureType::kUint8 ? 1 : 4;
}
inline size_t label_values(const DatasetInfo& info) {
  return static_cast<size_t>(info.label_size());  // 1, H * W class ids, or k targets
}
// One row as held in memory: features in the file dtype, int32 ids or float targets.
inline size_t stored_row_bytes(const DatasetInfo& info) {
  return static_cast<size_t>(info.sample_size()) * feature_size(info.feature_type) +
         label_values(info) * 4;
}
// One row of a batch slot: float features plus labels.
inline size_t batch_row_bytes(const DatasetInfo& info) {
  return static_cast<size_t>(info.sample_size()) * 4 + label_values(info) * 4;
}

struct ChunkInfo {
  int64_t rows = 0;  // along N; 0 when the dataset is not chunked
  size_t bytes = 0;
};

inline ChunkInfo chunk_info(hid_t dataset) {
  h5::PropList dcpl{LOCKSTEP_HDF5_CHECK(H5Dget_create_plist(dataset))};
  if (H5Pget_layout(dcpl.get()) != H5D_CHUNKED) return {};
  h5::Dataspace space{LOCKSTEP_HDF5_CHECK(H5Dget_space(dataset))};
  h5::Datatype type{LOCKSTEP_HDF5_CHECK(H5Dget_type(dataset))};
  const int rank = LOCKSTEP_HDF5_CHECK(H5Sget_simple_extent_ndims(space.get()));
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  LOCKSTEP_HDF5_CHECK(H5Pget_chunk(dcpl.get(), rank, dims.data()));
  ChunkInfo info{static_cast<int64_t>(dims[0]), H5Tget_size(type.get())};
  for (hsize_t d : dims) info.bytes *= d;
  return info;
}

// Opens `name` with a chunk cache that holds at least one of its chunks.
inline h5::Dataset open_cached(hid_t file, const std::string& name) {
  h5::Dataset ds{LOCKSTEP_HDF5_CHECK(H5Dopen2(file, name.c_str(), H5P_DEFAULT))};
  const size_t bytes = chunk_info(ds.get()).bytes;
  if (bytes <= kDefaultChunkCache) return ds;
  ds.reset();
  h5::PropList dapl{LOCKSTEP_HDF5_CHECK(H5Pcreate(H5P_DATASET_ACCESS))};
  LOCKSTEP_HDF5_CHECK(H5Pset_chunk_cache(dapl.get(), H5D_CHUNK_CACHE_NSLOTS_DEFAULT, bytes,
                                         H5D_CHUNK_CACHE_W0_DEFAULT));
  return h5::Dataset{LOCKSTEP_HDF5_CHECK(H5Dopen2(file, name.c_str(), dapl.get()))};
}

// Reads rows [begin, begin + count) of `dataset` (N, rest...) into `out`.
inline void read_rows(hid_t dataset, int64_t begin, int64_t count, hid_t mem_type, void* out) {
  h5::Dataspace file_space{LOCKSTEP_HDF5_CHECK(H5Dget_space(dataset))};
  const auto shape = h5::extent(file_space.get());
  std::vector<hsize_t> start(shape.size(), 0);
  std::vector<hsize_t> size(shape.begin(), shape.end());
  start[0] = static_cast<hsize_t>(begin);
  size[0] = static_cast<hsize_t>(count);
  LOCKSTEP_HDF5_CHECK(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr,
                                          size.data(), nullptr));
  h5::Dataspace mem_space{
      LOCKSTEP_HDF5_CHECK(H5Screate_simple(static_cast<int>(size.size()), size.data(), nullptr))};
  LOCKSTEP_HDF5_CHECK(
      H5Dread(dataset, mem_type, mem_space.get(), file_space.get(), H5P_DEFAULT, out));
}

// The open file of kStream: reads rows of both datasets, naming the file on failure.
class RowReader {
 public:
  RowReader(const DatasetSpec& spec, const DatasetInfo& expected)
      : where_("dataset file '" + spec.path + "'"), spec_(spec), info_(expected) {
    const DatasetInfo found = probe_dataset(spec);  // the schema checks and their messages
    const auto schema = [](const DatasetInfo& i) {
      return std::tie(i.num_samples, i.sample_shape, i.feature_type, i.label_kind, i.target_dim,
                      i.label_shape, i.layout);
    };
    LOCKSTEP_CHECK(schema(found) == schema(expected),
                   where_ << ": changed since the pipeline was created; expected "
                          << expected.num_samples << " samples of shape "
                          << h5::shape_string(expected.sample_shape) << " as before");
    file_ = h5::File{h5::open_read_only(spec.path, where_)};
    features_ = open_cached(file_.get(), spec.features);
    labels_ = open_cached(file_.get(), spec.labels);
    chunk_rows_ = chunk_info(features_.get()).rows;
    if (chunk_rows_ <= 0) {
      const auto row = static_cast<int64_t>(static_cast<size_t>(info_.sample_size()) *
                                            feature_size(info_.feature_type));
      chunk_rows_ = std::max<int64_t>(1, kFallbackPieceBytes / row);
    }
  }

  int64_t chunk_rows() const { return chunk_rows_; }

  /// Global rows [begin, begin + count) into the two buffers.
  void read(int64_t begin, int64_t count, void* features, void* labels) {
    try {
      read_rows(features_.get(), begin, count,
                info_.feature_type == FeatureType::kUint8 ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT,
                features);
      read_rows(labels_.get(), begin, count,
                info_.label_kind == LabelKind::kClassIds ? H5T_NATIVE_INT32 : H5T_NATIVE_FLOAT,
                labels);
    } catch (const Error& e) {
      throw Error(where_ + ": reading rows [" + std::to_string(begin) + ", " +
                  std::to_string(begin + count) + ") of '" + spec_.features + "' and '" +
                  spec_.labels + "' failed: " + e.what());
    }
    if (info_.layout == Layout::kNhwc) {
      nhwc_to_nchw(features, count, info_.file_sample_shape, feature_size(info_.feature_type));
    }
    if (info_.feature_type == FeatureType::kFloat32) {
      const auto sample = static_cast<size_t>(info_.sample_size());
      check_finite({static_cast<const float*>(features), static_cast<size_t>(count) * sample},
                   info_.sample_size(), begin, where_, spec_.features);
    }
    if (info_.label_kind == LabelKind::kTargets) {
      const auto k = static_cast<size_t>(info_.target_dim);
      check_finite({static_cast<const float*>(labels), static_cast<size_t>(count) * k},
                   info_.target_dim, begin, where_, spec_.labels);
    }
  }

 private:
  std::string where_;
  DatasetSpec spec_;
  DatasetInfo info_;
  h5::File file_;
  h5::Dataset features_;
  h5::Dataset labels_;
  int64_t chunk_rows_ = 1;
};

// kStream's shuffle buffer: `capacity` rows of features in the file dtype
// (u8 or f32, the other stays empty) and of labels as 4-byte words (int32 ids
// or float targets, copied bit for bit into the batch).
struct RowStore {
  RowStore(const DatasetInfo& info, int64_t rows)
      : capacity(rows), sample(static_cast<size_t>(info.sample_size())), words(label_values(info)) {
    const size_t values = static_cast<size_t>(rows) * sample;
    if (info.feature_type == FeatureType::kUint8) u8.resize(values);
    if (info.feature_type == FeatureType::kFloat32) f32.resize(values);
    labels.resize(static_cast<size_t>(rows) * words);
  }
  size_t bytes() const { return u8.size() + 4 * (f32.size() + labels.size()); }
  void* features_at(int64_t row) {
    const size_t i = static_cast<size_t>(row) * sample;
    return u8.empty() ? static_cast<void*>(f32.data() + i) : static_cast<void*>(u8.data() + i);
  }
  void* labels_at(int64_t row) { return labels.data() + static_cast<size_t>(row) * words; }
  void move_row(int64_t from, int64_t to) {
    const auto f = static_cast<size_t>(from);
    const auto t = static_cast<size_t>(to);
    if (!u8.empty()) std::memcpy(&u8[t * sample], &u8[f * sample], sample);
    if (!f32.empty()) std::memcpy(&f32[t * sample], &f32[f * sample], sample * 4);
    std::memcpy(&labels[t * words], &labels[f * words], words * 4);
  }
  // Normalised features and the labels of `row` into row `i` of `batch`.
  void emit(int64_t row, const Normaliser& norm, HostBatch& batch, int64_t i) const {
    const auto r = static_cast<size_t>(row);
    const auto at = static_cast<size_t>(i);
    float* x = batch.x.data<float>() + at * sample;
    if (!u8.empty()) norm.apply(&u8[r * sample], x);
    if (!f32.empty()) norm.apply(&f32[r * sample], x);
    std::memcpy(static_cast<char*>(batch.y.raw()) + at * words * 4, &labels[r * words], words * 4);
  }

  int64_t capacity;
  size_t sample;  // values per row
  size_t words;   // label values per row
  std::vector<uint8_t> u8;
  std::vector<float> f32;
  std::vector<int32_t> labels;
};

inline int64_t checked_rows(const RowSet& rows, const DatasetInfo& info) {
  const int64_t n = rows.size();
  const int64_t last = n > 0 ? rows.row(n - 1) : -1;
  if (rows.contiguous()) {
    LOCKSTEP_CHECK(n >= 1 && n <= info.num_samples,
                   "dataset file '" << info.path << "': num_rows " << n
                                    << " is invalid; expected 1 <= num_rows <= " << info.num_samples
                                    << " (its samples)");
  }
  LOCKSTEP_CHECK(n >= 1 && last < info.num_samples,
                 "dataset file '" << info.path << "': a row set of " << n << " rows up to row "
                                  << last << "; expected at least 1 row, all below "
                                  << info.num_samples << " (its samples)");
  return n;
}

}  // namespace lockstep::io::pipeline_detail
