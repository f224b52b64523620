#pragma once
// Decoding PNG (libpng) and JPEG (libjpeg-turbo's TurboJPEG) images and masks,
// and resizing them: bilinear for images, nearest for masks (class ids are
// never blended). Every error names the file and says what was expected.

#include <cstdint>
#include <string>
#include <vector>

namespace lockstep::io {

/// A decoded image: `channels` planes of height x width (CHW, uint8).
struct Image {
  int64_t channels = 0;
  int64_t height = 0;
  int64_t width = 0;
  std::vector<uint8_t> pixels;  // (C, H, W)
};

/// A decoded mask: one class id per pixel (H, W).
struct Mask {
  int64_t height = 0;
  int64_t width = 0;
  std::vector<int32_t> ids;  // (H, W)
};

/// The whole file's bytes; throws naming the file when it cannot be read.
std::vector<uint8_t> read_file_bytes(const std::string& path);

/// Writes `mask` as a grayscale PNG whose pixel values are the class ids
/// (8-bit when every id is below 256, else 16-bit); decode_mask reads it back.
/// Throws naming the file for an id outside [0, 65535] or a failed write.
void write_mask_png(const std::string& path, const Mask& mask);

/// Whether `path` ends in .png, .jpg or .jpeg (any case).
bool is_image_file(const std::string& path);

/// The channel count an image file decodes to by itself: 1 for grayscale,
/// 3 otherwise (alpha is dropped).
int64_t native_channels(const std::string& path, const std::vector<uint8_t>& bytes);

/// Decodes a PNG or JPEG (by content) to `channels` (1: gray, 3: RGB).
Image decode_image(const std::string& path, const std::vector<uint8_t>& bytes, int64_t channels);

/// Decodes a mask PNG: 8- or 16-bit grayscale, or a palette image (its
/// indices are the class ids). Anything else (RGB, JPEG) is an error.
Mask decode_mask(const std::string& path, const std::vector<uint8_t>& bytes);

/// Bilinear resize (half-pixel centres, as PIL and OpenCV's INTER_LINEAR).
Image resize_bilinear(const Image& image, int64_t height, int64_t width);
/// Nearest-neighbour resize (the source pixel holding the target's centre).
Mask resize_nearest(const Mask& mask, int64_t height, int64_t width);
/// The centred height x width window; the image must be at least that large.
Image crop_center(const Image& image, int64_t height, int64_t width);
Mask crop_center(const Mask& mask, int64_t height, int64_t width);

}  // namespace lockstep::io
