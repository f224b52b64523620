#pragma once
// Image layout of a features dataset (README "File formats"): lockstep works
// in NCHW; a file may store its images channels-last (N, H, W, C) and say so
// with the attribute `layout` = "nhwc" on its features dataset (or the run
// says so with data.layout = nhwc). Such data is transposed to NCHW as it is
// read, so everything after the reader sees (C, H, W) samples.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lockstep::io {

enum class Layout { kAuto, kNchw, kNhwc };

const char* to_string(Layout layout);
/// "auto", "nchw" or "nhwc"; throws naming `what` and the text otherwise.
Layout parse_layout(const std::string& text, const std::string& what);

/// The layout in which a features dataset of per-sample shape `file_shape`
/// is stored: the file's `layout` attribute (`attribute`, empty when absent)
/// and the run's choice `requested` (kAuto: follow the file). Throws, naming
/// `where`, when they disagree, when nhwc is asked of samples that are not
/// (H, W, C), or when neither says and the shape looks channels-last (rank 3,
/// last dimension 1, 3 or 4, first dimension > 4): such a file would
/// otherwise train a wrong model silently.
Layout resolve_layout(const std::vector<int64_t>& file_shape, const std::string& attribute,
                      Layout requested, const std::string& where, const std::string& name);

/// The NCHW sample shape of a file sample shape stored in `layout`.
std::vector<int64_t> nchw_shape(const std::vector<int64_t>& file_shape, Layout layout);

/// Transposes `rows` samples of (H, W, C) elements of `bytes` bytes each,
/// in place, to (C, H, W).
void nhwc_to_nchw(void* data, int64_t rows, const std::vector<int64_t>& file_shape, size_t bytes);

}  // namespace lockstep::io
