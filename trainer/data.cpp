#include "trainer/data.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <sstream>
#include <utility>

namespace lockstep::trainer {

namespace {

io::Shard load_collective(const DataOptions& options, comm::Communicator& comm,
                          std::optional<io::RowSet>& rows, bool with_features,
                          int64_t& first_position) {
  std::optional<io::Shard> shard;
  comm::check_on_all_ranks(comm, [&] {
    const io::DatasetInfo info = io::probe_dataset(options.spec);
    LOCKSTEP_CHECK(options.limit >= 0, "data.limit: expected >= 0, got " << options.limit);
    const int64_t n =
        options.limit > 0 ? std::min(options.limit, info.num_samples) : info.num_samples;
    if (!rows) rows = io::RowSet::all(n);
    LOCKSTEP_CHECK(rows->size() == 0 || rows->row(rows->size() - 1) < n,
                   "dataset file '" << options.spec.path << "': row " << rows->row(rows->size() - 1)
                                    << " is in use; expected rows < " << n << " (the rows in use)");
    LOCKSTEP_CHECK(options.shard_block > 0 || rows->size() >= comm.size(),
                   "dataset file '" << options.spec.path << "': " << rows->size() << " samples but "
                                    << comm.size()
                                    << " ranks: every rank needs at least one sample");
    const io::RowRange range =
        options.shard_block > 0
            ? io::block_shard_range(rows->size(), options.shard_block, comm.size(), comm.rank())
            : io::shard_range(rows->size(), comm.size(), comm.rank());
    first_position = range.begin;
    shard = io::load_rows(options.spec, *rows, range, with_features);
  });
  return std::move(*shard);
}

}  // namespace

ShardedData::ShardedData(const DataOptions& options, comm::Communicator& comm, bool with_features,
                         std::optional<io::RowSet> rows)
    : options_(options),
      shard_(load_collective(options, comm, rows, with_features, first_position_)) {
  rows_ = std::move(*rows);
}

void ShardedData::check_fits(const ModelInterface& model, comm::Communicator& comm) const {
  comm::check_on_all_ranks(comm, [&] {
    const io::DatasetInfo& i = info();
    const std::string where = "dataset file '" + i.path + "'";
    LOCKSTEP_CHECK(i.sample_shape == model.input_shape,
                   where << ", features '" << options_.spec.features
                         << "': the model expects samples of shape " << shape_str(model.input_shape)
                         << ", the file has " << shape_str(i.sample_shape));
    if (model.class_ids) {
      LOCKSTEP_CHECK(
          i.label_kind == io::LabelKind::kClassIds,
          where << ", labels '" << options_.spec.labels
                << "': the loss cross_entropy expects integer class ids (N,), the file has"
                << " float targets (N, " << i.target_dim << ")");
      LOCKSTEP_CHECK(i.label_shape == model.output_map,
                     where << ", labels '" << options_.spec.labels << "': the model's "
                           << (model.output_map.empty()
                                   ? std::string("outputs (one score per class) expect a class id "
                                                 "per sample (N,)")
                                   : "per-pixel outputs expect class maps (N, " +
                                         shape_str(model.output_map).substr(1))
                           << ", the file has "
                           << (i.label_shape.empty()
                                   ? std::string("a class id per sample (N,)")
                                   : "class maps (N, " + shape_str(i.label_shape).substr(1)));
      shard_.check_labels(model.num_outputs, options_.spec);
    } else {
      LOCKSTEP_CHECK(i.label_kind == io::LabelKind::kTargets && i.target_dim == model.num_outputs,
                     where << ", labels '" << options_.spec.labels
                           << "': the loss mse expects float targets (N, " << model.num_outputs
                           << "), the file has "
                           << (i.label_kind == io::LabelKind::kClassIds
                                   ? std::string("integer class ids (N,)")
                                   : "float targets (N, " + std::to_string(i.target_dim) + ")"));
    }
  });
}

void ShardedData::fill(std::span<const int64_t> rows, Tensor& x, Tensor& y) const {
  const auto n = static_cast<int64_t>(rows.size());
  Shape xs{n};
  xs.insert(xs.end(), info().sample_shape.begin(), info().sample_shape.end());
  ensure_shape(x, xs, DType::kF32, Device::kCpu);
  shard_.gather_features(rows, options_.norm,
                         std::span<float>(x.data<float>(), static_cast<size_t>(x.numel())));
  if (info().label_kind == io::LabelKind::kClassIds) {
    Shape ys{n};  // (n,) or (n, H, W) per pixel
    ys.insert(ys.end(), info().label_shape.begin(), info().label_shape.end());
    ensure_shape(y, ys, DType::kI32, Device::kCpu);
    shard_.gather_labels(rows,
                         std::span<int32_t>(y.data<int32_t>(), static_cast<size_t>(y.numel())));
  } else {
    ensure_shape(y, {n, info().target_dim}, DType::kF32, Device::kCpu);
    shard_.gather_targets(rows, std::span<float>(y.data<float>(), static_cast<size_t>(y.numel())));
  }
}

RunData open_run_data(const DataOptions& train, const ValidationSource& val,
                      int64_t eval_batch_size, comm::Communicator& comm) {
  LOCKSTEP_CHECK(eval_batch_size > 0,
                 "train.eval_batch_size: expected > 0, got " << eval_batch_size);
  DataOptions val_options = train;
  val_options.shard_block = eval_batch_size;
  RunData data;
  if (val.fraction <= 0 && val.folds == 0) {
    data.train = std::make_unique<ShardedData>(train, comm, /*with_features=*/false);
    if (!val.path.empty()) {
      DataOptions v = val_options;
      v.spec.path = val.path;
      v.limit = 0;  // the whole file
      data.val = std::make_unique<ShardedData>(v, comm);
    }
    return data;
  }
  LOCKSTEP_CHECK(val.path.empty() && (val.fraction <= 0 || val.folds == 0),
                 "data.val, data.val_fraction and data.folds: expected at most one of them");
  io::RowSplit split;
  comm::check_on_all_ranks(comm, [&] {
    int64_t n = io::probe_dataset(train.spec).num_samples;
    if (train.limit > 0) n = std::min(train.limit, n);
    std::ostringstream what;
    if (val.folds > 0) {
      LOCKSTEP_CHECK(val.folds <= n, "data.folds: expected at most one fold per row of '"
                                         << train.spec.path << "' (" << n << " rows in use), got "
                                         << val.folds);
      split = io::fold_split(n, val.folds, val.fold, val.seed);
      what << "data.fold = " << val.fold << " of data.folds = " << val.folds;
    } else {
      split = io::split_rows(n, val.fraction, val.seed);
      what << "data.val_fraction = " << val.fraction;
    }
    LOCKSTEP_CHECK(split.val.size() >= comm.size(),
                   what.str() << ": " << split.val.size() << " validation rows of '"
                              << train.spec.path << "' for " << comm.size()
                              << " ranks; expected at least one row per rank");
  });
  data.train = std::make_unique<ShardedData>(train, comm, /*with_features=*/false, split.train);
  data.val = std::make_unique<ShardedData>(val_options, comm, /*with_features=*/true, split.val);
  return data;
}

ClassCount count_classes(const RunData& data, comm::Communicator& comm) {
  const ShardedData& train = *data.train;
  const io::DatasetInfo& info = train.info();
  if (!info.class_names.empty()) {
    return {static_cast<int64_t>(info.class_names.size()),
            "its class_names attribute names " + std::to_string(info.class_names.size())};
  }
  std::pair<int32_t, int64_t> local = train.shard().max_class_id();
  if (data.val && data.val->info().path == info.path) {
    const std::pair<int32_t, int64_t> val = data.val->shard().max_class_id();
    if (val.first > local.first || (val.first == local.first && val.second < local.second))
      local = val;
  }
  const auto [id, row] = local;
  int64_t top = id;
  comm.allreduce(std::span<int64_t>(&top, 1), comm::ReduceOp::kMax);
  int64_t first = id == top ? row : std::numeric_limits<int64_t>::max();  // of the largest id
  comm.allreduce(std::span<int64_t>(&first, 1), comm::ReduceOp::kMin);
  return {top + 1, "its labels '" + train.options().spec.labels + "' hold class ids up to " +
                       std::to_string(top) + ": row " + std::to_string(first) + " has class id " +
                       std::to_string(top)};
}

void check_output_width(const ModelInterface& model, const std::string& last_layer,
                        const RunData& data, comm::Communicator& comm) {
  if (!model.class_ids || data.train->info().label_kind != io::LabelKind::kClassIds) return;
  const ClassCount classes = count_classes(data, comm);
  // No class id >= 0 at all: ShardedData::check_fits names the bad labels.
  if (classes.count == model.num_outputs || classes.count <= 0) return;
  // The same figures on every rank: an error all ranks agree on.
  std::ostringstream os;
  os << "model.layers: the last layer, " << last_layer << ", gives " << model.num_outputs
     << " output(s), but the training data '" << data.train->info().path << "' has "
     << classes.count << " classes (" << classes.source
     << "); expected one output per class (cross_entropy): end model.layers with a layer of "
     << classes.count << " outputs, e.g. dense(" << classes.count << ")"
     << (data.train->info().class_names.empty() ? ", or correct the labels" : "");
  throw comm::CollectiveError(os.str());
}

}  // namespace lockstep::trainer
