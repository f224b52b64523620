// Block-by-block writer of uint8 image datasets (dataset_writer.hpp).

#include "io/dataset_writer.hpp"

#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "io/dataset_open.hpp"
#include "io/hdf5.hpp"

namespace lockstep::io {

namespace {

constexpr int64_t kChunkBytes = int64_t{1} << 20;  // default features per chunk

int64_t product(const std::vector<int64_t>& v) {
  int64_t n = 1;
  for (int64_t d : v) n *= d;
  return n;
}

h5::Dataset create(hid_t file, const std::string& name, hid_t type, std::vector<hsize_t> dims,
                   int64_t chunk_rows, int gzip) {
  std::vector<hsize_t> chunk = dims;
  chunk[0] = static_cast<hsize_t>(chunk_rows);
  h5::Dataspace space{
      LOCKSTEP_HDF5_CHECK(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr))};
  h5::PropList dcpl{LOCKSTEP_HDF5_CHECK(H5Pcreate(H5P_DATASET_CREATE))};
  LOCKSTEP_HDF5_CHECK(H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()));
  if (gzip > 0) {
    LOCKSTEP_HDF5_CHECK(H5Pset_deflate(dcpl.get(), static_cast<unsigned>(gzip)));
  }
  h5::PropList lcpl{LOCKSTEP_HDF5_CHECK(H5Pcreate(H5P_LINK_CREATE))};
  LOCKSTEP_HDF5_CHECK(H5Pset_create_intermediate_group(lcpl.get(), 1));
  return h5::Dataset{LOCKSTEP_HDF5_CHECK(
      H5Dcreate2(file, name.c_str(), type, space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT))};
}

void write_block(hid_t dataset, int64_t begin, int64_t count, hid_t mem_type, const void* data) {
  h5::Dataspace fspace{LOCKSTEP_HDF5_CHECK(H5Dget_space(dataset))};
  auto dims = h5::extent(fspace.get());
  std::vector<hsize_t> start(dims.size(), 0);
  std::vector<hsize_t> size(dims.begin(), dims.end());
  start[0] = static_cast<hsize_t>(begin);
  size[0] = static_cast<hsize_t>(count);
  LOCKSTEP_HDF5_CHECK(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr,
                                          size.data(), nullptr));
  h5::Dataspace mspace{
      LOCKSTEP_HDF5_CHECK(H5Screate_simple(static_cast<int>(size.size()), size.data(), nullptr))};
  LOCKSTEP_HDF5_CHECK(H5Dwrite(dataset, mem_type, mspace.get(), fspace.get(), H5P_DEFAULT, data));
}

// Compresses `count` chunks of `chunk_bytes` (the last one zero-padded to a
// whole chunk, as HDF5 stores edge chunks) on `threads` threads, then writes
// them in order with H5Dwrite_chunk: deflate is the slow part of writing
// images, and HDF5 1.10 runs filters on one thread only.
void write_chunks(hid_t dataset, int64_t first_chunk, int64_t chunk_rows, size_t chunk_bytes,
                  const uint8_t* data, size_t data_bytes, int threads, int gzip,
                  const std::string& where) {
  const auto count = static_cast<int64_t>((data_bytes + chunk_bytes - 1) / chunk_bytes);
  std::vector<std::vector<uint8_t>> out(static_cast<size_t>(count));
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  auto work = [&] {
    std::vector<uint8_t> padded;
    for (int64_t c; (c = next++) < count;) {
      const size_t from = static_cast<size_t>(c) * chunk_bytes;
      const uint8_t* src = data + from;
      if (from + chunk_bytes > data_bytes) {
        padded.assign(chunk_bytes, 0);
        std::copy(data + from, data + data_bytes, padded.begin());
        src = padded.data();
      }
      auto& dst = out[static_cast<size_t>(c)];
      uLongf size = compressBound(static_cast<uLong>(chunk_bytes));
      dst.resize(size);
      if (compress2(dst.data(), &size, src, static_cast<uLong>(chunk_bytes), gzip) != Z_OK)
        failed = true;
      dst.resize(size);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::min<int64_t>(threads, count); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  LOCKSTEP_CHECK(!failed, where << ": zlib could not compress a chunk");
  h5::Dataspace space{LOCKSTEP_HDF5_CHECK(H5Dget_space(dataset))};
  std::vector<hsize_t> offset(static_cast<size_t>(h5::extent(space.get()).size()), 0);
  for (int64_t c = 0; c < count; ++c) {
    offset[0] = static_cast<hsize_t>((first_chunk + c) * chunk_rows);
    const auto& chunk = out[static_cast<size_t>(c)];
    LOCKSTEP_HDF5_CHECK(
        H5Dwrite_chunk(dataset, H5P_DEFAULT, 0, offset.data(), chunk.size(), chunk.data()));
  }
}

class H5RowSink : public RowSink {
 public:
  H5RowSink(hid_t file, const DatasetSpec& spec, const ImageDatasetSchema& s)
      : n_(s.num_samples),
        chunk_rows_(chunk_rows(s)),
        feature_row_(product(s.sample_shape)),
        label_row_(4 * product(s.label_shape)),
        threads_(std::max(1, s.threads)),
        gzip_(H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0 ? std::clamp(s.gzip, 0, 9) : 0),
        where_("dataset file '" + spec.path + "'") {
    std::vector<hsize_t> fdims{static_cast<hsize_t>(s.num_samples)};
    for (int64_t d : s.sample_shape) fdims.push_back(static_cast<hsize_t>(d));
    std::vector<hsize_t> ldims{static_cast<hsize_t>(s.num_samples)};
    for (int64_t d : s.label_shape) ldims.push_back(static_cast<hsize_t>(d));
    features_ = create(file, spec.features, H5T_STD_U8LE, fdims, chunk_rows_, gzip_);
    labels_ = create(file, spec.labels, H5T_STD_I32LE, ldims, chunk_rows_, gzip_);
  }
  void write(int64_t begin, int64_t count, const uint8_t* features,
             const int32_t* labels) override {
    LOCKSTEP_CHECK(begin >= 0 && count >= 0 && begin + count <= n_,
                   where_ << ": rows [" << begin << ", " << begin + count
                          << ") written; expected rows within [0, " << n_ << ")");
    if (count == 0) return;
    const bool whole_chunks =
        begin % chunk_rows_ == 0 && (count % chunk_rows_ == 0 || begin + count == n_);
    if (gzip_ > 0 && whole_chunks) {
      const auto rows = static_cast<size_t>(count);
      write_chunks(features_.get(), begin / chunk_rows_, chunk_rows_,
                   static_cast<size_t>(chunk_rows_ * feature_row_), features,
                   rows * static_cast<size_t>(feature_row_), threads_, gzip_, where_);
      write_chunks(labels_.get(), begin / chunk_rows_, chunk_rows_,
                   static_cast<size_t>(chunk_rows_ * label_row_),
                   reinterpret_cast<const uint8_t*>(labels), rows * static_cast<size_t>(label_row_),
                   threads_, gzip_, where_);
      return;
    }
    write_block(features_.get(), begin, count, H5T_NATIVE_UINT8, features);
    write_block(labels_.get(), begin, count, H5T_NATIVE_INT32, labels);
  }

 private:
  int64_t n_, chunk_rows_, feature_row_, label_row_;
  int threads_;
  int gzip_;  // deflate level; 0: stored uncompressed
  std::string where_;
  h5::Dataset features_;
  h5::Dataset labels_;
};

}  // namespace

void detail::write_dataset_attributes(hid_t file, const DatasetSpec& spec, size_t sample_rank,
                                      Layout layout, std::optional<int32_t> ignore_index) {
  if (sample_rank == 3 && layout != Layout::kAuto) {
    h5::Dataset ds{LOCKSTEP_HDF5_CHECK(H5Dopen2(file, spec.features.c_str(), H5P_DEFAULT))};
    h5::write_string_attribute(ds.get(), "layout", to_string(layout));
  }
  if (ignore_index) {
    h5::Dataset ds{LOCKSTEP_HDF5_CHECK(H5Dopen2(file, spec.labels.c_str(), H5P_DEFAULT))};
    h5::write_int64_attribute(ds.get(), "ignore_index", *ignore_index);
  }
}

int64_t chunk_rows(const ImageDatasetSchema& schema) {
  const int64_t row = std::max<int64_t>(1, product(schema.sample_shape));
  const int64_t bytes = schema.chunk_bytes > 0 ? schema.chunk_bytes : kChunkBytes;
  return std::clamp<int64_t>(bytes / row, 1, std::max<int64_t>(1, schema.num_samples));
}

int64_t rows_per_block(const ImageDatasetSchema& schema, int64_t bytes) {
  const int64_t row = product(schema.sample_shape) + 4 * product(schema.label_shape);
  const int64_t chunk = chunk_rows(schema);
  const int64_t rows = std::max<int64_t>(1, bytes / std::max<int64_t>(row, 1));
  return rows < chunk ? rows : rows / chunk * chunk;
}

void write_image_dataset(const DatasetSpec& spec, const ImageDatasetSchema& schema,
                         const std::function<void(RowSink&)>& produce) {
  const std::string where = "dataset file '" + spec.path + "'";
  LOCKSTEP_CHECK(schema.num_samples > 0,
                 where << ": " << schema.num_samples << " samples; expected at least one");
  LOCKSTEP_CHECK(schema.sample_shape.size() == 3 && product(schema.sample_shape) > 0,
                 where << ": sample shape " << h5::shape_string(schema.sample_shape)
                       << "; expected (C, H, W) images");
  LOCKSTEP_CHECK(schema.label_shape.empty() || schema.label_shape.size() == 2,
                 where << ": label shape " << h5::shape_string(schema.label_shape)
                       << "; expected none (N,) or (H, W) per pixel");
  h5::write_atomically(spec.path, "dataset file", [&](hid_t file) {
    {
      H5RowSink sink(file, spec, schema);
      produce(sink);
    }
    detail::write_dataset_attributes(file, spec, 3, Layout::kNchw, schema.ignore_index);
    h5::write_string_attribute(file, "lockstep_format", "dataset/1");
    if (!schema.class_names.empty())
      h5::write_strings_attribute(file, "class_names", schema.class_names);
    for (const auto& [name, value] : schema.int_attributes)
      h5::write_int64_attribute(file, name.c_str(), value);
    for (const auto& [name, value] : schema.text_attributes)
      h5::write_string_attribute(file, name.c_str(), value);
  });
}

}  // namespace lockstep::io
