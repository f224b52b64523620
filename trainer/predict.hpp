#pragma once
// Prediction (lockstep predict): a saved model's outputs for every row of an
// input file, each rank computing a contiguous run of whole batches of the
// rows (io::block_shard_range), rank 0 gathering them in input order. A batch
// holds the same rows on any number of ranks, so the outputs have the same
// bits on any number of ranks. Uses the evaluation's host/device path
// (forward_eval), so CPU and GPU ranks work alike.

#include <optional>
#include <string>
#include <vector>

#include "comm/mpi.hpp"
#include "core/model.hpp"
#include "io/dataset.hpp"
#include "io/predictions.hpp"

namespace lockstep::trainer {

/// One rank's part of a prediction input.
struct PredictInput {
  std::string path;
  int64_t num_rows = 0;               // rows in the file
  std::vector<int64_t> sample_shape;  // per-row feature shape
  int64_t batch_size = 0;             // rows per batch; ranks own whole batches
  std::vector<int64_t> rank_rows;     // rows per rank, rank order (contiguous shards)
  std::optional<io::Shard> shard;     // this rank's rows; empty when it has none
};

/// True when `path` is read as CSV (.csv or .csv.gz), else as HDF5.
bool is_csv_input(const std::string& path);

/// Collective: reads this rank's contiguous rows of an HDF5 dataset (the
/// features dataset `features`; labels are not read) or of a CSV file of
/// numeric columns (`delimiter`; an optional header). The rows are cut into
/// batches of `batch_size` and rank r owns the contiguous batches
/// io::block_shard_range gives it (possibly none). CSV rows, which are flat,
/// take the shape `model_input` when their number of values is its number of
/// elements.
PredictInput load_predict_input(const std::string& path, const std::string& features,
                                char delimiter, const Shape& model_input, int64_t batch_size,
                                comm::Communicator& comm);

/// Collective: the input's sample shape must be the model's input shape; the
/// error names the file, the expected and the found shape.
void check_input_shape(const PredictInput& input, const Shape& model_input,
                       comm::Communicator& comm);

/// `x` (host) through the model in evaluation mode; copies it to the model's
/// device first when that is a GPU (into `x_dev`). The output is on the model's device.
Tensor forward_eval(Model& model, const Tensor& x, Tensor& x_dev);

/// The raw outputs (rows x outputs, row-major, host) of this rank's rows, in
/// the batches of input.batch_size rows that load_predict_input cut.
std::vector<float> predict_outputs(Model& model, const PredictInput& input,
                                   const io::Normalization& norm);

/// Collective: gathers every rank's outputs on rank 0 and turns them into the
/// table (classifier: argmax class and softmax probabilities; else the
/// outputs). Other ranks get an empty table.
io::PredictionTable gather_predictions(comm::MpiCommunicator& comm, const PredictInput& input,
                                       const std::vector<float>& local, int64_t width,
                                       bool classifier);

/// Collective: the same for a segmentation model, whose outputs are (C, H, W)
/// class scores per row (`output_shape`): rank 0 gets each pixel's class (the
/// first highest score), map_shape {H, W}.
io::PredictionTable gather_class_maps(comm::MpiCommunicator& comm, const PredictInput& input,
                                      const std::vector<float>& local, const Shape& output_shape);

}  // namespace lockstep::trainer
