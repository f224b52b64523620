#pragma once
// Prediction files (lockstep predict): one row per input row, in input order,
// written atomically as CSV or HDF5 (chosen by the extension). Layout, as
// documented in the README:
//   classifier  CSV: header "class,prob_0,...,prob_{K-1}"; with class names
//               "class,class_name,prob_0,...,prob_{K-1}" (the name of the
//               class id, quoted when it holds a comma, a quote or a newline)
//               HDF5: /class int32 (N,), /probabilities float32 (N, K); with
//               class names also a root attribute class_names (K strings)
//   segmentation (per-pixel classes): HDF5 only: /class int32 (N, H, W),
//               the class of each pixel (no probabilities)
//   regression  CSV: header "output_0,...,output_{k-1}"
//               HDF5: /outputs float32 (N, k)
//   HDF5 root attributes: lockstep_format = "predictions/1", model, data
// CSV numbers are printed with 9 significant digits (float32 round trip).

#include <cstdint>
#include <string>
#include <vector>

namespace lockstep::io {

enum class PredictionFormat { kCsv, kHdf5 };

struct PredictionTable {
  int64_t rows = 0;
  int64_t width = 0;                     // classes K (classifier) or outputs k (regression)
  bool classifier = false;               // class ids and probabilities, else outputs
  std::vector<int32_t> classes;          // (rows,) when classifier; (rows, H, W) per pixel
  std::vector<int64_t> map_shape;        // per-pixel classes: {H, W} (values then empty)
  std::vector<float> values;             // (rows, width): probabilities or outputs
  std::vector<std::string> class_names;  // classifier: one per class id, or empty
  std::string model;                     // recorded in HDF5 files
  std::string data;
};

/// The format named by the extension of `path` (.csv, or .h5 / .hdf5); any
/// other is an error naming the option `option` and the expected extensions.
PredictionFormat prediction_format(const std::string& path, const char* option);

/// Throws when `out` names one of `inputs` (the same file, by path or by
/// identity): prediction never overwrites its input.
void check_not_an_input(const std::string& out, const std::vector<std::string>& inputs);

/// Writes `table` to `path` atomically (temporary name in the same folder,
/// flush, fsync, rename): a failure leaves any previous file intact.
void write_predictions(const std::string& path, const PredictionTable& table);

/// Writes `text` to `path` the same atomic way; `what` names the file in
/// errors ("report file").
void write_text_atomically(const std::string& path, const std::string& what,
                           const std::string& text);

}  // namespace lockstep::io
