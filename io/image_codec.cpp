// PNG and JPEG decoding and resizing (image_codec.hpp).
//
// Decisions:
// - Images: libpng's simplified API (no setjmp in our code) and TurboJPEG
//   (error codes); both decode interleaved pixels, turned into planes here.
// - Masks need the stored sample values, not colours: libpng's simplified API
//   would map a palette to colours, so masks use the low-level API with
//   setjmp in one small function that holds no C++ objects with destructors.

#include "io/image_codec.hpp"

#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>

#include "core/error.hpp"

namespace lockstep::io {

namespace {

bool is_png(const std::vector<uint8_t>& b) {
  return b.size() >= 8 && png_sig_cmp(b.data(), 0, 8) == 0;
}
bool is_jpeg(const std::vector<uint8_t>& b) {
  return b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;
}

struct TjHandle {
  tjhandle h = tjInitDecompress();
  ~TjHandle() {
    if (h) tjDestroy(h);
  }
};

std::string tj_error(tjhandle h) {
  return h ? tjGetErrorStr2(h) : "cannot start the TurboJPEG decoder";
}

void to_planes(const uint8_t* interleaved, Image& out) {
  const auto plane = static_cast<size_t>(out.height * out.width);
  const auto c = static_cast<size_t>(out.channels);
  out.pixels.resize(plane * c);
  for (size_t i = 0; i < plane; ++i)
    for (size_t ch = 0; ch < c; ++ch) out.pixels[ch * plane + i] = interleaved[i * c + ch];
}

struct PngErrors {
  char message[256] = {0};
};

void png_error_fn(png_structp png, png_const_charp message) {
  auto* e = static_cast<PngErrors*>(png_get_error_ptr(png));
  std::snprintf(e->message, sizeof(e->message), "%s", message);
}
void png_warning_fn(png_structp, png_const_charp) {}

struct MemoryReader {
  const uint8_t* data;
  size_t size;
  size_t at;
};

void png_read_memory(png_structp png, png_bytep out, png_size_t n) {
  auto* r = static_cast<MemoryReader*>(png_get_io_ptr(png));
  if (r->at + n > r->size) png_error(png, "file ends early (truncated)");
  std::memcpy(out, r->data + r->at, n);
  r->at += n;
}

// Low-level libpng read of a mask; returns an error text (empty on success).
// No C++ object with a destructor lives in this frame across setjmp.
const char* read_mask_png(const uint8_t* data, size_t size, PngErrors* errors, uint32_t* width,
                          uint32_t* height, int* depth, int* color_type,
                          std::vector<uint8_t>* rows) {
  png_structp png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, errors, png_error_fn, png_warning_fn);
  if (!png) return "cannot start libpng";
  png_infop info = png_create_info_struct(png);
  MemoryReader reader{data, size, 0};
  png_bytep* volatile pointers = nullptr;
  if (setjmp(png_jmpbuf(png))) {
    std::free(pointers);
    png_destroy_read_struct(&png, &info, nullptr);
    return errors->message;
  }
  png_set_read_fn(png, &reader, png_read_memory);
  png_read_info(png, info);
  *width = png_get_image_width(png, info);
  *height = png_get_image_height(png, info);
  *depth = png_get_bit_depth(png, info);
  *color_type = png_get_color_type(png, info);
  if (*color_type != PNG_COLOR_TYPE_GRAY && *color_type != PNG_COLOR_TYPE_PALETTE) {
    png_destroy_read_struct(&png, &info, nullptr);
    return "";  // the caller names the colour type
  }
  if (*depth < 8) png_set_packing(png);  // one value per byte, not scaled
  if (*depth == 16) png_set_swap(png);   // little-endian uint16
  png_read_update_info(png, info);
  const size_t row_bytes = png_get_rowbytes(png, info);
  rows->resize(row_bytes * *height);
  pointers = static_cast<png_bytep*>(std::malloc(sizeof(png_bytep) * *height));
  if (!pointers) png_error(png, "out of memory");
  for (uint32_t y = 0; y < *height; ++y) pointers[y] = rows->data() + y * row_bytes;
  png_read_image(png, pointers);
  png_read_end(png, nullptr);
  std::free(pointers);
  png_destroy_read_struct(&png, &info, nullptr);
  return nullptr;
}

}  // namespace

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  LOCKSTEP_CHECK(in.good(), "image file '" << path << "': cannot open it for reading");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  LOCKSTEP_CHECK(!in.bad(), "image file '" << path << "': read failed");
  return bytes;
}

bool is_image_file(const std::string& path) {
  const auto dot = path.rfind('.');
  if (dot == std::string::npos) return false;
  std::string ext = path.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char ch) { return std::tolower(ch); });
  return ext == "png" || ext == "jpg" || ext == "jpeg";
}

int64_t native_channels(const std::string& path, const std::vector<uint8_t>& bytes) {
  if (is_png(bytes)) {
    png_image image;
    std::memset(&image, 0, sizeof(image));
    image.version = PNG_IMAGE_VERSION;
    LOCKSTEP_CHECK(png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()),
                   "image file '" << path << "': cannot decode the PNG: " << image.message);
    const bool colour = (image.format & PNG_FORMAT_FLAG_COLOR) != 0;
    png_image_free(&image);
    return colour ? 3 : 1;
  }
  LOCKSTEP_CHECK(is_jpeg(bytes), "image file '" << path
                                                << "': not a PNG or JPEG file (unknown signature); "
                                                   "expected a PNG or JPEG image");
  TjHandle tj;
  int w = 0, h = 0, sub = 0, space = 0;
  LOCKSTEP_CHECK(
      tj.h && tjDecompressHeader3(tj.h, bytes.data(), bytes.size(), &w, &h, &sub, &space) == 0,
      "image file '" << path << "': cannot decode the JPEG: " << tj_error(tj.h));
  return space == TJCS_GRAY ? 1 : 3;
}

Image decode_image(const std::string& path, const std::vector<uint8_t>& bytes, int64_t channels) {
  LOCKSTEP_CHECK(channels == 1 || channels == 3,
                 "image file '" << path << "': " << channels << " channels asked; expected 1 or 3");
  Image out;
  out.channels = channels;
  std::vector<uint8_t> interleaved;
  if (is_png(bytes)) {
    png_image image;
    std::memset(&image, 0, sizeof(image));
    image.version = PNG_IMAGE_VERSION;
    bool ok = png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()) != 0;
    if (ok) {
      image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
      out.height = image.height;
      out.width = image.width;
      interleaved.resize(PNG_IMAGE_SIZE(image));
      ok = png_image_finish_read(&image, nullptr, interleaved.data(), 0, nullptr) != 0;
    }
    const std::string message = image.message;
    png_image_free(&image);
    LOCKSTEP_CHECK(ok, "image file '" << path << "': cannot decode the PNG: " << message);
  } else {
    LOCKSTEP_CHECK(is_jpeg(bytes), "image file '"
                                       << path
                                       << "': not a PNG or JPEG file (unknown signature); "
                                          "expected a PNG or JPEG image");
    TjHandle tj;
    int w = 0, h = 0, sub = 0, space = 0;
    LOCKSTEP_CHECK(
        tj.h && tjDecompressHeader3(tj.h, bytes.data(), bytes.size(), &w, &h, &sub, &space) == 0,
        "image file '" << path << "': cannot decode the JPEG: " << tj_error(tj.h));
    out.height = h;
    out.width = w;
    interleaved.resize(static_cast<size_t>(w) * static_cast<size_t>(h) *
                       static_cast<size_t>(channels));
    LOCKSTEP_CHECK(tjDecompress2(tj.h, bytes.data(), bytes.size(), interleaved.data(), w, 0, h,
                                 channels == 1 ? TJPF_GRAY : TJPF_RGB, 0) == 0,
                   "image file '" << path << "': cannot decode the JPEG: " << tj_error(tj.h));
  }
  to_planes(interleaved.data(), out);
  return out;
}

void write_mask_png(const std::string& path, const Mask& mask) {
  int32_t top = 0;
  for (int32_t id : mask.ids) {
    if (id < 0 || id > 65535)
      throw Error("mask '" + path + "': expected class ids in [0, 65535] for a PNG, got " +
                  std::to_string(id));
    top = std::max(top, id);
  }
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(mask.width);
  image.height = static_cast<png_uint_32>(mask.height);
  int ok = 0;
  if (top < 256) {
    image.format = PNG_FORMAT_GRAY;
    std::vector<uint8_t> px(mask.ids.begin(), mask.ids.end());
    ok = png_image_write_to_file(&image, path.c_str(), 0, px.data(), 0, nullptr);
  } else {
    image.format = PNG_FORMAT_LINEAR_Y;  // 16-bit values written as they are
    std::vector<uint16_t> px(mask.ids.begin(), mask.ids.end());
    ok = png_image_write_to_file(&image, path.c_str(), 0, px.data(), 0, nullptr);
  }
  if (!ok)
    throw Error("mask '" + path + "': PNG write failed (" + std::string(image.message) + ")");
}

Mask decode_mask(const std::string& path, const std::vector<uint8_t>& bytes) {
  LOCKSTEP_CHECK(is_png(bytes), "mask file '" << path
                                              << "': not a PNG file; expected a PNG mask (8- or "
                                                 "16-bit grayscale or palette) with one class id "
                                                 "per pixel (JPEG would blur the ids)");
  PngErrors errors;
  uint32_t w = 0, h = 0;
  int depth = 0, type = 0;
  std::vector<uint8_t> rows;
  const char* error =
      read_mask_png(bytes.data(), bytes.size(), &errors, &w, &h, &depth, &type, &rows);
  LOCKSTEP_CHECK(error == nullptr || error[0] != '\0',
                 "mask file '" << path << "': a "
                               << (type == PNG_COLOR_TYPE_RGB         ? "RGB"
                                   : type == PNG_COLOR_TYPE_RGB_ALPHA ? "RGBA"
                                                                      : "gray+alpha")
                               << " PNG; expected a grayscale or palette PNG with one class id "
                                  "per pixel");
  LOCKSTEP_CHECK(error == nullptr, "mask file '" << path << "': cannot decode the PNG: " << error);
  Mask mask;
  mask.height = h;
  mask.width = w;
  const size_t n = static_cast<size_t>(w) * h;
  mask.ids.resize(n);
  if (depth == 16) {
    for (size_t i = 0; i < n; ++i) {
      uint16_t v = 0;
      std::memcpy(&v, rows.data() + 2 * i, 2);
      mask.ids[i] = v;
    }
  } else {
    for (size_t i = 0; i < n; ++i) mask.ids[i] = rows[i];
  }
  return mask;
}

Image resize_bilinear(const Image& in, int64_t height, int64_t width) {
  if (in.height == height && in.width == width) return in;
  Image out{in.channels, height, width, {}};
  out.pixels.resize(static_cast<size_t>(in.channels * height * width));
  const double sy = static_cast<double>(in.height) / static_cast<double>(height);
  const double sx = static_cast<double>(in.width) / static_cast<double>(width);
  for (int64_t y = 0; y < height; ++y) {
    const double fy = std::clamp((static_cast<double>(y) + 0.5) * sy - 0.5, 0.0,
                                 static_cast<double>(in.height - 1));
    const auto y0 = static_cast<int64_t>(fy);
    const int64_t y1 = std::min(y0 + 1, in.height - 1);
    const double wy = fy - static_cast<double>(y0);
    for (int64_t x = 0; x < width; ++x) {
      const double fx = std::clamp((static_cast<double>(x) + 0.5) * sx - 0.5, 0.0,
                                   static_cast<double>(in.width - 1));
      const auto x0 = static_cast<int64_t>(fx);
      const int64_t x1 = std::min(x0 + 1, in.width - 1);
      const double wx = fx - static_cast<double>(x0);
      for (int64_t c = 0; c < in.channels; ++c) {
        const uint8_t* p = in.pixels.data() + c * in.height * in.width;
        const double top = p[y0 * in.width + x0] * (1 - wx) + p[y0 * in.width + x1] * wx;
        const double bottom = p[y1 * in.width + x0] * (1 - wx) + p[y1 * in.width + x1] * wx;
        out.pixels[static_cast<size_t>((c * height + y) * width + x)] =
            static_cast<uint8_t>(std::lround(top * (1 - wy) + bottom * wy));
      }
    }
  }
  return out;
}

Mask resize_nearest(const Mask& in, int64_t height, int64_t width) {
  if (in.height == height && in.width == width) return in;
  Mask out{height, width, std::vector<int32_t>(static_cast<size_t>(height * width))};
  for (int64_t y = 0; y < height; ++y) {
    const int64_t sy = std::min(in.height - 1, (2 * y + 1) * in.height / (2 * height));
    for (int64_t x = 0; x < width; ++x) {
      const int64_t sx = std::min(in.width - 1, (2 * x + 1) * in.width / (2 * width));
      out.ids[static_cast<size_t>(y * width + x)] = in.ids[static_cast<size_t>(sy * in.width + sx)];
    }
  }
  return out;
}

Image crop_center(const Image& in, int64_t height, int64_t width) {
  Image out{in.channels, height, width, {}};
  out.pixels.resize(static_cast<size_t>(in.channels * height * width));
  const int64_t top = (in.height - height) / 2, left = (in.width - width) / 2;
  for (int64_t c = 0; c < in.channels; ++c)
    for (int64_t y = 0; y < height; ++y)
      std::memcpy(&out.pixels[static_cast<size_t>((c * height + y) * width)],
                  &in.pixels[static_cast<size_t>((c * in.height + top + y) * in.width + left)],
                  static_cast<size_t>(width));
  return out;
}

Mask crop_center(const Mask& in, int64_t height, int64_t width) {
  Mask out{height, width, std::vector<int32_t>(static_cast<size_t>(height * width))};
  const int64_t top = (in.height - height) / 2, left = (in.width - width) / 2;
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x)
      out.ids[static_cast<size_t>(y * width + x)] =
          in.ids[static_cast<size_t>((top + y) * in.width + left + x)];
  return out;
}

}  // namespace lockstep::io
