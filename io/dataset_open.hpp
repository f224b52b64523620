#pragma once
// Internal to io/dataset.cpp and io/dataset_open.cpp: a dataset file opened
// and validated once (both datasets' shapes, dtypes and filters), so that the
// checks and their messages exist in one place. Every message starts with
// "dataset file '<path>'" and says what was expected and what was found.

#include "io/dataset.hpp"
#include "io/hdf5.hpp"

namespace lockstep::io::detail {

struct OpenDataset {
  h5::File file;
  h5::Dataset features;
  h5::Dataset labels;
  DatasetInfo info;
};

/// Opens `spec`'s file and validates its features and labels datasets.
OpenDataset open_dataset(const DatasetSpec& spec);

/// The attributes a writer puts on the datasets of `file` (dataset_writer.cpp): "layout" on the
/// features when the samples have rank 3 (and `layout` is not kAuto),
/// "ignore_index" on the labels when given.
void write_dataset_attributes(hid_t file, const DatasetSpec& spec, size_t sample_rank,
                              Layout layout, std::optional<int32_t> ignore_index);

}  // namespace lockstep::io::detail
