// Synthetic dense-prediction datasets (datagen_seg.hpp).

#include "io/datagen_seg.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "io/dataset_writer.hpp"
#include "io/importers.hpp"

namespace lockstep::io {

const std::vector<std::string> kSegmentationClasses = {
    "background", "t-shirt/top", "trouser", "pullover", "dress",     "coat",
    "sandal",     "shirt",       "sneaker", "bag",      "ankle boot"};
const std::vector<std::string> kRoadClasses = {"terrain",      "sky",     "road",
                                               "lane marking", "vehicle", "pedestrian"};

namespace {

constexpr int64_t kItem = 28;

struct Canvas {
  int64_t h, w;
  std::vector<double> rgb;  // (3, H, W) in [0, 1]
  int32_t* mask;
  void paint(int64_t y, int64_t x, const double c[3], double alpha, int32_t cls) {
    if (y < 0 || y >= h || x < 0 || x >= w) return;
    for (int k = 0; k < 3; ++k) {
      double& p = rgb[static_cast<size_t>((k * h + y) * w + x)];
      p = p * (1 - alpha) + c[k] * alpha;
    }
    if (cls >= 0) mask[y * w + x] = cls;
  }
  void rect(double y0, double x0, double y1, double x1, const double c[3], int32_t cls) {
    for (auto y = static_cast<int64_t>(std::floor(y0)); y < static_cast<int64_t>(std::ceil(y1));
         ++y)
      for (auto x = static_cast<int64_t>(std::floor(x0)); x < static_cast<int64_t>(std::ceil(x1));
           ++x)
        paint(y, x, c, 1.0, cls);
  }
};

void colour(Rng& rng, double c[3], double lo, double hi) {
  for (int k = 0; k < 3; ++k) c[k] = lo + (hi - lo) * rng.uniform();
}

void finish(const SegDatagenOptions& o, Rng& rng, const Canvas& c, uint8_t* pixels) {
  for (size_t i = 0; i < c.rgb.size(); ++i) {
    const double v = c.rgb[i] + o.noise * rng.normal();
    pixels[i] = static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 1.0) * 255.0));
  }
}

}  // namespace

uint8_t item_pixel(const std::vector<uint8_t>& items, const PlacedItem& it, int64_t y, int64_t x) {
  const int64_t sy = (y - it.top) * kItem / it.size, sx = (x - it.left) * kItem / it.size;
  if (y < it.top || x < it.left || sy >= kItem || sx >= kItem) return 0;
  return items[static_cast<size_t>((it.source * kItem + sy) * kItem + sx)];
}

std::vector<PlacedItem> render_segmentation(const SegDatagenOptions& o,
                                            const std::vector<uint8_t>& items,
                                            const std::vector<int32_t>& labels, int64_t row,
                                            uint8_t* pixels, int32_t* mask) {
  const int64_t h = o.height, w = o.width;
  Rng rng(hash_keys({o.seed, 0x5E6ull, static_cast<uint64_t>(row)}));
  Canvas c{h, w, std::vector<double>(static_cast<size_t>(3 * h * w)), mask};
  std::fill(mask, mask + h * w, 0);
  // Background: a gradient between two colours plus clutter (bars and blocks
  // of the background class).
  double a[3], b[3];
  colour(rng, a, 0.0, 0.5);
  colour(rng, b, 0.0, 0.5);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      const double t = static_cast<double>(y + x) / static_cast<double>(h + w);
      const double g[3] = {a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t,
                           a[2] + (b[2] - a[2]) * t};
      c.paint(y, x, g, 1.0, -1);
    }
  const int64_t clutter = 3 + static_cast<int64_t>(rng.below(5));
  for (int64_t k = 0; k < clutter; ++k) {
    double cc[3];
    colour(rng, cc, 0.0, 0.7);
    const double y0 = rng.uniform() * static_cast<double>(h),
                 x0 = rng.uniform() * static_cast<double>(w);
    const bool bar = rng.below(2) == 1;
    const double hh = bar ? 1 + 2 * rng.uniform() : 2 + 6 * rng.uniform();
    const double ww = bar ? static_cast<double>(w) * rng.uniform() : 2 + 6 * rng.uniform();
    c.rect(y0, x0, y0 + hh, x0 + ww, cc, 0);
  }
  const int64_t n =
      o.min_items +
      static_cast<int64_t>(rng.below(static_cast<uint64_t>(o.max_items - o.min_items + 1)));
  const auto pool = static_cast<uint64_t>(labels.size());
  std::vector<PlacedItem> placed;
  for (int64_t k = 0; k < n; ++k) {
    PlacedItem it;
    it.source = static_cast<int64_t>(rng.below(pool));
    it.cls = labels[static_cast<size_t>(it.source)] + 1;
    const int64_t max_size = std::max<int64_t>(kItem / 2, std::min(h, w) * 3 / 4);
    it.size = kItem * 3 / 4 + static_cast<int64_t>(rng.below(static_cast<uint64_t>(
                                  std::max<int64_t>(1, max_size - kItem * 3 / 4 + 1))));
    it.top = static_cast<int64_t>(
                 rng.below(static_cast<uint64_t>(std::max<int64_t>(1, h - it.size / 2)))) -
             it.size / 4;
    it.left = static_cast<int64_t>(
                  rng.below(static_cast<uint64_t>(std::max<int64_t>(1, w - it.size / 2)))) -
              it.size / 4;
    double ic[3];
    colour(rng, ic, 0.45, 1.0);
    for (int64_t y = std::max<int64_t>(0, it.top); y < std::min(h, it.top + it.size); ++y)
      for (int64_t x = std::max<int64_t>(0, it.left); x < std::min(w, it.left + it.size); ++x) {
        const uint8_t v = item_pixel(items, it, y, x);
        if (v > kItemThreshold) c.paint(y, x, ic, std::min(1.0, v / 200.0), it.cls);
      }
    placed.push_back(it);
  }
  finish(o, rng, c, pixels);
  return placed;
}

void render_road(const SegDatagenOptions& o, int64_t row, uint8_t* pixels, int32_t* mask) {
  const int64_t h = o.height, w = o.width;
  const double H = static_cast<double>(h), W = static_cast<double>(w);
  Rng rng(hash_keys({o.seed, 0x20ADull, static_cast<uint64_t>(row)}));
  Canvas c{h, w, std::vector<double>(static_cast<size_t>(3 * h * w)), mask};
  const double horizon = H * (0.3 + 0.2 * rng.uniform());
  const double vx = W * (0.35 + 0.3 * rng.uniform());  // vanishing point
  const double half_bottom = W * (0.3 + 0.2 * rng.uniform());
  double sky[3] = {0.45 + 0.2 * rng.uniform(), 0.6 + 0.2 * rng.uniform(),
                   0.85 + 0.15 * rng.uniform()};
  double terrain[3] = {0.2 + 0.3 * rng.uniform(), 0.35 + 0.3 * rng.uniform(),
                       0.1 + 0.2 * rng.uniform()};
  const double grey = 0.25 + 0.2 * rng.uniform();
  double road[3] = {grey, grey, grey + 0.03};
  double paint[3] = {0.95, 0.95, 0.9 * rng.uniform() + 0.1};
  const double dash = 4 + 4 * rng.uniform(), phase = rng.uniform();
  for (int64_t y = 0; y < h; ++y) {
    const double yy = static_cast<double>(y) + 0.5;
    const double t = (yy - horizon) / (H - horizon);  // 0 at the horizon, 1 at the bottom
    for (int64_t x = 0; x < w; ++x) {
      const double xx = static_cast<double>(x) + 0.5;
      if (yy < horizon) {
        const double s[3] = {sky[0] + 0.1 * yy / H, sky[1] + 0.1 * yy / H, sky[2]};
        c.paint(y, x, s, 1.0, 1);
        continue;
      }
      const double half = half_bottom * t;
      if (std::abs(xx - vx) < half) {
        c.paint(y, x, road, 1.0, 2);
        // A dashed centre line: dashes long in perspective (by 1/t).
        const bool on = std::fmod(std::log(std::max(t, 1e-3)) * dash + phase * 10 + 100, 2.0) < 1.0;
        if (on && std::abs(xx - vx) < std::max(0.5, 0.04 * half)) c.paint(y, x, paint, 1.0, 3);
      } else {
        c.paint(y, x, terrain, 1.0, 0);
      }
    }
  }
  // Vehicles on the road, far ones first (nearer ones occlude them).
  const int64_t vehicles = static_cast<int64_t>(rng.below(4));
  std::vector<double> depths;
  for (int64_t k = 0; k < vehicles; ++k) depths.push_back(0.15 + 0.85 * rng.uniform());
  std::sort(depths.begin(), depths.end());
  for (double t : depths) {
    const double half = half_bottom * t, base = horizon + t * (H - horizon);
    const double side = rng.uniform() < 0.5 ? -0.5 : 0.5;
    const double cx = vx + side * half, vw = 0.7 * half, vh = 0.55 * vw;
    double body[3];
    colour(rng, body, 0.05, 0.95);
    c.rect(base - vh, cx - vw / 2, base, cx + vw / 2, body, 4);
    const double glass[3] = {0.1, 0.12, 0.18};
    c.rect(base - vh * 0.85, cx - vw * 0.35, base - vh * 0.55, cx + vw * 0.35, glass, 4);
  }
  // Pedestrians beside the road.
  const int64_t people = static_cast<int64_t>(rng.below(3));
  for (int64_t k = 0; k < people; ++k) {
    const double t = 0.3 + 0.7 * rng.uniform();
    const double half = half_bottom * t, base = horizon + t * (H - horizon);
    const double cx = vx + (rng.uniform() < 0.5 ? -1 : 1) * (half + 2 + 4 * rng.uniform() * t);
    const double ph = std::max(3.0, 0.35 * H * t), pw = std::max(1.0, ph / 4);
    double cloth[3];
    colour(rng, cloth, 0.1, 0.9);
    c.rect(base - ph, cx - pw / 2, base, cx + pw / 2, cloth, 5);
    const double skin[3] = {0.85, 0.65, 0.5};
    c.rect(base - ph - pw, cx - pw / 2, base - ph, cx + pw / 2, skin, 5);
  }
  finish(o, rng, c, pixels);
}

void generate_dense_dataset(const SegDatagenOptions& o) {
  const bool seg = o.task == SegTask::kSegmentation;
  LOCKSTEP_CHECK(o.samples > 0 && o.height >= 8 && o.width >= 8,
                 "datagen: " << o.samples << " samples of " << o.height << "x" << o.width
                             << "; expected at least one sample of at least 8x8");
  LOCKSTEP_CHECK(!seg || (o.min_items >= 1 && o.max_items >= o.min_items),
                 "datagen --task segmentation: items " << o.min_items << ".." << o.max_items
                                                       << "; expected 1 <= min <= max");
  std::vector<uint8_t> items;
  std::vector<int32_t> labels;
  if (seg) {
    DatasetArrays fashion = read_idx(o.fashion_images, o.fashion_labels);
    LOCKSTEP_CHECK(fashion.sample_shape == (std::vector<int64_t>{1, kItem, kItem}),
                   "datagen --task segmentation: '"
                       << o.fashion_images << "' holds images of " << fashion.sample_shape[1] << "x"
                       << fashion.sample_shape[2] << "; expected 28x28 Fashion-MNIST items");
    items = std::move(fashion.features_u8);
    labels = std::move(fashion.labels);
    for (int32_t l : labels)
      LOCKSTEP_CHECK(l >= 0 && l < 10, "datagen: '" << o.fashion_labels << "' holds label " << l
                                                    << "; expected Fashion-MNIST classes 0..9");
  }
  ImageDatasetSchema schema;
  schema.num_samples = o.samples;
  schema.sample_shape = {3, o.height, o.width};
  schema.label_shape = {o.height, o.width};
  schema.class_names = seg ? kSegmentationClasses : kRoadClasses;
  schema.int_attributes = {{"seed", static_cast<int64_t>(o.seed)}};
  schema.text_attributes = {{"generator", "lockstep datagen"},
                            {"task", seg ? "segmentation" : "road"}};
  const int64_t block = rows_per_block(schema);
  const auto sample = static_cast<size_t>(3 * o.height * o.width);
  const auto plane = static_cast<size_t>(o.height * o.width);
  DatasetSpec spec;
  spec.path = o.path;
  write_image_dataset(spec, schema, [&](RowSink& sink) {
    std::vector<uint8_t> pixels(static_cast<size_t>(block) * sample);
    std::vector<int32_t> masks(static_cast<size_t>(block) * plane);
    for (int64_t begin = 0; begin < o.samples; begin += block) {
      const int64_t count = std::min(block, o.samples - begin);
      for (int64_t r = 0; r < count; ++r) {
        uint8_t* p = pixels.data() + static_cast<size_t>(r) * sample;
        int32_t* m = masks.data() + static_cast<size_t>(r) * plane;
        if (seg) render_segmentation(o, items, labels, begin + r, p, m);
        if (!seg) render_road(o, begin + r, p, m);
      }
      sink.write(begin, count, pixels.data(), masks.data());
    }
  });
}

}  // namespace lockstep::io
