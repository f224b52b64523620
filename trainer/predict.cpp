// Prediction (see predict.hpp).
//
// Decisions:
// - Rank 0 applies softmax and argmax after the gather, to the raw outputs, so
//   the written numbers depend only on each row's outputs, not on how rows
//   were split across ranks.
// - Softmax in double with the row maximum subtracted; the class is the first
//   largest output (the same rule as the accuracy in evaluation).

#include "trainer/predict.hpp"

#include <algorithm>
#include <cmath>

#include "io/importers.hpp"
#include "io/sampler.hpp"

namespace lockstep::trainer {

bool is_csv_input(const std::string& path) {
  const auto ends_with = [&](const std::string& s) {
    if (path.size() < s.size()) return false;
    std::string tail = path.substr(path.size() - s.size());
    std::transform(tail.begin(), tail.end(), tail.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return tail == s;
  };
  return ends_with(".csv") || ends_with(".csv.gz");
}

PredictInput load_predict_input(const std::string& path, const std::string& features,
                                char delimiter, const Shape& model_input, int64_t batch_size,
                                comm::Communicator& comm) {
  PredictInput in;
  in.path = path;
  in.batch_size = batch_size;
  comm::check_on_all_ranks(comm, [&] {
    LOCKSTEP_CHECK(batch_size > 0, "predict --batch-size: expected > 0, got " << batch_size);
    std::optional<io::DatasetArrays> table;
    io::DatasetSpec spec;
    spec.path = path;
    spec.features = features;
    spec.labels = "";  // features only: labels, if any, are ignored
    if (is_csv_input(path)) {
      table = io::read_csv_features(path, delimiter);
      // A CSV row is flat: it takes the model's sample shape (e.g. C x H x W)
      // when the numbers of values agree.
      if (shape_numel(table->sample_shape) == shape_numel(model_input))
        table->sample_shape = model_input;
      in.num_rows = table->num_samples();
      in.sample_shape = table->sample_shape;
    } else {
      const io::DatasetInfo info = io::probe_dataset(spec);
      in.num_rows = info.num_samples;
      in.sample_shape = info.sample_shape;
    }
    for (int r = 0; r < comm.size(); ++r)
      in.rank_rows.push_back(io::block_shard_range(in.num_rows, batch_size, comm.size(), r).size());
    const io::RowRange mine =
        io::block_shard_range(in.num_rows, batch_size, comm.size(), comm.rank());
    if (mine.size() == 0) return;
    in.shard = table ? io::Shard::from_arrays(path, *table, mine.begin, mine.end)
                     : io::Shard::load(spec, mine.begin, mine.end);
  });
  return in;
}

void check_input_shape(const PredictInput& input, const Shape& model_input,
                       comm::Communicator& comm) {
  comm::check_on_all_ranks(comm, [&] {
    LOCKSTEP_CHECK(input.sample_shape == model_input,
                   "predict input '" << input.path << "': the model expects samples of shape "
                                     << shape_str(model_input) << ", the file has "
                                     << shape_str(input.sample_shape));
  });
}

Tensor forward_eval(Model& model, const Tensor& x, Tensor& x_dev) {
  if (model.device() == Device::kCpu) return model.forward(x, RunContext{Mode::kEval, 0});
  ensure_shape(x_dev, x.shape(), x.dtype(), model.device());
  x_dev.copy_from(x);
  return model.forward(x_dev, RunContext{Mode::kEval, 0});
}

std::vector<float> predict_outputs(Model& model, const PredictInput& input,
                                   const io::Normalization& norm) {
  const int64_t batch_size = input.batch_size;
  LOCKSTEP_CHECK(batch_size > 0, "--batch-size: expected > 0, got " << batch_size);
  const int64_t width = shape_numel(model.output_shape());
  if (!input.shard) return {};
  const io::Shard& shard = *input.shard;
  std::vector<float> out(static_cast<size_t>(shard.size() * width));
  Tensor x, x_dev, out_host;
  std::vector<int64_t> idx;
  for (int64_t begin = 0; begin < shard.size(); begin += batch_size) {
    const int64_t end = std::min(shard.size(), begin + batch_size);
    idx.resize(static_cast<size_t>(end - begin));
    for (int64_t i = begin; i < end; ++i) idx[static_cast<size_t>(i - begin)] = i;
    Shape xs{end - begin};
    xs.insert(xs.end(), input.sample_shape.begin(), input.sample_shape.end());
    ensure_shape(x, xs, DType::kF32, Device::kCpu);
    shard.gather_features(idx, norm,
                          std::span<float>(x.data<float>(), static_cast<size_t>(x.numel())));
    const Tensor y = forward_eval(model, x, x_dev);
    ensure_shape(out_host, y.shape(), DType::kF32, Device::kCpu);
    out_host.copy_from(y);
    std::copy(out_host.data<float>(), out_host.data<float>() + out_host.numel(),
              out.begin() + static_cast<std::ptrdiff_t>(begin * width));
  }
  return out;
}

io::PredictionTable gather_predictions(comm::MpiCommunicator& comm, const PredictInput& input,
                                       const std::vector<float>& local, int64_t width,
                                       bool classifier) {
  std::vector<int64_t> counts;
  for (int64_t rows : input.rank_rows) counts.push_back(rows * width);
  io::PredictionTable t;
  std::vector<float> all(comm.rank() == 0 ? static_cast<size_t>(input.num_rows * width) : 0);
  comm.gather(local, all, counts, 0);
  if (comm.rank() != 0) return t;
  t.rows = input.num_rows;
  t.width = width;
  t.classifier = classifier;
  t.data = input.path;
  if (!classifier) {
    t.values = std::move(all);
    return t;
  }
  t.values.resize(all.size());
  const auto w = static_cast<size_t>(width);
  std::vector<double> e(w);
  for (size_t r = 0; r < static_cast<size_t>(t.rows); ++r) {
    const float* z = all.data() + r * w;
    const size_t best = static_cast<size_t>(std::max_element(z, z + w) - z);
    double sum = 0;
    for (size_t c = 0; c < w; ++c) sum += e[c] = std::exp(static_cast<double>(z[c]) - z[best]);
    for (size_t c = 0; c < w; ++c) t.values[r * w + c] = static_cast<float>(e[c] / sum);
    t.classes.push_back(static_cast<int32_t>(best));
  }
  return t;
}

io::PredictionTable gather_class_maps(comm::MpiCommunicator& comm, const PredictInput& input,
                                      const std::vector<float>& local, const Shape& output_shape) {
  LOCKSTEP_CHECK(output_shape.size() == 3,
                 "predict: expected per-pixel outputs (C, H, W), got " << shape_str(output_shape));
  const int64_t c = output_shape[0], hw = output_shape[1] * output_shape[2];
  // Each rank reduces its rows to class ids first (C times less to gather).
  const int64_t rows = static_cast<int64_t>(local.size()) / (c * hw);
  std::vector<float> ids(static_cast<size_t>(rows * hw));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t p = 0; p < hw; ++p) {
      const float* z = local.data() + r * c * hw + p;
      int64_t best = 0;
      for (int64_t k = 1; k < c; ++k)
        if (z[k * hw] > z[best * hw]) best = k;
      ids[static_cast<size_t>(r * hw + p)] = static_cast<float>(best);
    }
  std::vector<int64_t> counts;
  for (int64_t n : input.rank_rows) counts.push_back(n * hw);
  io::PredictionTable t;
  std::vector<float> all(comm.rank() == 0 ? static_cast<size_t>(input.num_rows * hw) : 0);
  comm.gather(ids, all, counts, 0);
  if (comm.rank() != 0) return t;
  t.rows = input.num_rows;
  t.width = c;
  t.classifier = true;
  t.data = input.path;
  t.map_shape = {output_shape[1], output_shape[2]};
  t.classes.reserve(all.size());
  for (float v : all) t.classes.push_back(static_cast<int32_t>(v));
  return t;
}

}  // namespace lockstep::trainer
