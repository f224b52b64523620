// Image layouts (layout.hpp): resolving a file's layout and the NHWC -> NCHW
// transpose applied by the readers.

#include "io/layout.hpp"

#include <cstring>
#include <sstream>

#include "core/error.hpp"

namespace lockstep::io {

namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ")";
  return os.str();
}

bool looks_channels_last(const std::vector<int64_t>& s) {
  return s.size() == 3 && (s[2] == 1 || s[2] == 3 || s[2] == 4) && s[0] > 4;
}

}  // namespace

const char* to_string(Layout layout) {
  switch (layout) {
    case Layout::kNchw:
      return "nchw";
    case Layout::kNhwc:
      return "nhwc";
    default:
      return "auto";
  }
}

Layout parse_layout(const std::string& text, const std::string& what) {
  if (text == "auto") return Layout::kAuto;
  if (text == "nchw") return Layout::kNchw;
  if (text == "nhwc") return Layout::kNhwc;
  LOCKSTEP_FAIL(what << ": expected auto, nchw or nhwc, got '" << text << "'");
  return Layout::kAuto;
}

Layout resolve_layout(const std::vector<int64_t>& file_shape, const std::string& attribute,
                      Layout requested, const std::string& where, const std::string& name) {
  Layout stored = Layout::kAuto;
  if (!attribute.empty()) {
    LOCKSTEP_CHECK(attribute == "nchw" || attribute == "nhwc",
                   where << ": features '" << name << "' have attribute layout = '" << attribute
                         << "'; expected \"nchw\" or \"nhwc\"");
    stored = attribute == "nchw" ? Layout::kNchw : Layout::kNhwc;
    LOCKSTEP_CHECK(
        requested == Layout::kAuto || requested == stored,
        where << ": data.layout = " << to_string(requested) << " but features '" << name
              << "' say layout = \"" << attribute
              << "\"; expected them to agree (set data.layout = auto to follow the file)");
  } else {
    stored = requested;
  }
  if (stored == Layout::kAuto) {
    LOCKSTEP_CHECK(!looks_channels_last(file_shape),
                   where << ": features '" << name << "' have samples of shape "
                         << shape_text(file_shape)
                         << ", which looks channels-last (H, W, C), but the file does not say its "
                            "layout; expected (C, H, W) samples: set data.layout = nhwc (or "
                            "nchw if it really is), or give the features dataset the attribute "
                            "layout = \"nhwc\"");
    return Layout::kNchw;
  }
  if (stored == Layout::kNhwc) {
    LOCKSTEP_CHECK(file_shape.size() == 3, where << ": features '" << name
                                                 << "' are read as nhwc but have samples of shape "
                                                 << shape_text(file_shape)
                                                 << "; expected (H, W, C) samples");
  }
  return stored;
}

std::vector<int64_t> nchw_shape(const std::vector<int64_t>& file_shape, Layout layout) {
  if (layout != Layout::kNhwc) return file_shape;
  return {file_shape[2], file_shape[0], file_shape[1]};
}

void nhwc_to_nchw(void* data, int64_t rows, const std::vector<int64_t>& file_shape, size_t bytes) {
  const auto h = static_cast<size_t>(file_shape[0]);
  const auto w = static_cast<size_t>(file_shape[1]);
  const auto c = static_cast<size_t>(file_shape[2]);
  const size_t row_bytes = h * w * c * bytes;
  std::vector<unsigned char> scratch(row_bytes);
  auto* base = static_cast<unsigned char*>(data);
  for (int64_t r = 0; r < rows; ++r) {
    unsigned char* row = base + static_cast<size_t>(r) * row_bytes;
    std::memcpy(scratch.data(), row, row_bytes);
    for (size_t y = 0; y < h; ++y)
      for (size_t x = 0; x < w; ++x)
        for (size_t ch = 0; ch < c; ++ch)
          std::memcpy(row + ((ch * h + y) * w + x) * bytes,
                      &scratch[((y * w + x) * c + ch) * bytes], bytes);
  }
}

}  // namespace lockstep::io
