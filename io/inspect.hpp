#pragma once
#include <string>

namespace lockstep::io {

/// A human-readable schema of any HDF5 file lockstep writes (dataset or model):
/// its kind (from the lockstep_format attribute), every group and dataset with
/// shape and dtype, chunking/compression, and attributes (long strings cut).
/// For a dataset also the label range / class count; for a model its layers,
/// input shape and parameter count.
std::string describe_file(const std::string& path);

}  // namespace lockstep::io
