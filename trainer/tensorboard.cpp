#include "trainer/tensorboard.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <iterator>
#include <sstream>

#include "core/error.hpp"
#include "trainer/crc32c.hpp"

namespace lockstep::trainer {
namespace {

// ---- protobuf wire format (the few pieces an Event needs) ----------------

enum Wire : uint32_t { kVarint = 0, kFixed64 = 1, kBytes = 2, kFixed32 = 5 };

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void put_key(std::string& out, uint32_t field, Wire wire) {
  put_varint(out, (field << 3) | wire);
}
void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>(v >> (8 * i) & 0xff));
}
/// n little-endian bytes of s at `at` (the caller checked the bounds).
uint64_t le_at(const std::string& s, size_t at, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i)
    v |= static_cast<uint64_t>(static_cast<unsigned char>(s[at + i])) << (8 * i);
  return v;
}

void put_double(std::string& out, uint32_t field, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  put_key(out, field, kFixed64);
  put_le(out, bits, 8);
}
void put_float(std::string& out, uint32_t field, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  put_key(out, field, kFixed32);
  put_le(out, bits, 4);
}
void put_bytes(std::string& out, uint32_t field, const std::string& bytes) {
  put_key(out, field, kBytes);
  put_varint(out, bytes.size());
  out += bytes;
}

/// Reads fields from a byte range; errors name the file and the byte offset.
class Cursor {
 public:
  Cursor(const std::string& file, const std::string& bytes, size_t base)
      : file_(file), bytes_(bytes), base_(base) {}
  bool done() const { return pos_ >= bytes_.size(); }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const auto b = static_cast<unsigned char>(take(1)[0]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    fail("a varint of at most 10 bytes");
  }
  uint64_t le(size_t n) {
    take(n);
    return le_at(bytes_, pos_ - n, static_cast<int>(n));
  }
  double fixed_double() {
    const uint64_t bits = le(8);
    double v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
  }
  float fixed_float() {
    const auto bits = static_cast<uint32_t>(le(4));
    float v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
  }
  /// A length-delimited field's bytes and the file offset where they start.
  std::pair<std::string, size_t> bytes() {
    const uint64_t n = varint();
    const size_t at = base_ + pos_;
    return {take(n), at};
  }
  void skip(Wire wire) {
    if (wire == kVarint) varint();
    if (wire == kFixed64) take(8);
    if (wire == kBytes) bytes();
    if (wire == kFixed32) take(4);
  }
  std::pair<uint32_t, Wire> key() {
    const uint64_t k = varint();
    const uint64_t wire = k & 7;
    if (wire != kVarint && wire != kFixed64 && wire != kBytes && wire != kFixed32)
      fail("a protobuf wire type 0, 1, 2 or 5, got " + std::to_string(wire));
    return {static_cast<uint32_t>(k >> 3), static_cast<Wire>(wire)};
  }
  void expect(Wire got, Wire want, const char* field) const {
    if (got != want)
      fail(std::string(field) + " with wire type " + std::to_string(want) + ", got wire type " +
           std::to_string(got));
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw Error("events file '" + file_ + "', byte " + std::to_string(base_ + pos_) +
                ": expected " + what);
  }

 private:
  std::string take(uint64_t n) {
    if (n > bytes_.size() - pos_)
      fail(std::to_string(n) + " more bytes, found " + std::to_string(bytes_.size() - pos_) +
           " (message truncated)");
    std::string s = bytes_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  const std::string& file_;
  const std::string& bytes_;
  size_t base_;
  size_t pos_ = 0;
};

// ---- Event messages -------------------------------------------------------

constexpr uint32_t kEventWallTime = 1, kEventStep = 2, kEventFileVersion = 3, kEventSummary = 5;
constexpr uint32_t kSummaryValue = 1;
constexpr uint32_t kValueTag = 1, kValueSimpleValue = 2;
constexpr const char* kFileVersion = "brain.Event:2";

std::string encode_scalar_event(const ScalarEvent& s) {
  std::string value;
  put_bytes(value, kValueTag, s.tag);
  put_float(value, kValueSimpleValue, s.value);
  std::string summary;
  put_bytes(summary, kSummaryValue, value);
  std::string event;
  put_double(event, kEventWallTime, s.wall_time);
  put_key(event, kEventStep, kVarint);
  put_varint(event, static_cast<uint64_t>(s.step));  // int64: two's complement
  put_bytes(event, kEventSummary, summary);
  return event;
}

/// The simple_value scalars of a Summary message (other values are skipped).
void decode_summary(const std::string& file, const std::pair<std::string, size_t>& summary,
                    int64_t step, double wall_time, std::vector<ScalarEvent>& out) {
  Cursor sc(file, summary.first, summary.second);
  while (!sc.done()) {
    const auto [field, wire] = sc.key();
    if (field != kSummaryValue) {
      sc.skip(wire);
      continue;
    }
    sc.expect(wire, kBytes, "Summary.value");
    const auto value = sc.bytes();
    Cursor vc(file, value.first, value.second);
    ScalarEvent s{"", step, 0.0f, wall_time};
    bool simple = false;
    while (!vc.done()) {
      const auto [vf, vw] = vc.key();
      if (vf == kValueTag) {
        vc.expect(vw, kBytes, "Value.tag");
        s.tag = vc.bytes().first;
      } else if (vf == kValueSimpleValue) {
        vc.expect(vw, kFixed32, "Value.simple_value");
        s.value = vc.fixed_float();
        simple = true;
      } else {
        vc.skip(vw);
      }
    }
    if (simple) out.push_back(std::move(s));
  }
}

void decode_event(const std::string& file, const std::string& data, size_t base, bool first,
                  EventFile& out) {
  Cursor c(file, data, base);
  double wall_time = 0.0;
  int64_t step = 0;
  std::string version;
  std::vector<std::pair<std::string, size_t>> summaries;
  while (!c.done()) {
    const auto [field, wire] = c.key();
    if (field == kEventWallTime) {
      c.expect(wire, kFixed64, "Event.wall_time");
      wall_time = c.fixed_double();
    } else if (field == kEventStep) {
      c.expect(wire, kVarint, "Event.step");
      step = static_cast<int64_t>(c.varint());
    } else if (field == kEventFileVersion) {
      c.expect(wire, kBytes, "Event.file_version");
      version = c.bytes().first;
    } else if (field == kEventSummary) {
      c.expect(wire, kBytes, "Event.summary");
      summaries.push_back(c.bytes());
    } else {
      c.skip(wire);
    }
  }
  if (first) {
    if (version.rfind("brain.Event:", 0) != 0)
      c.fail("a first event with file_version \"brain.Event:<n>\", got \"" + version + "\"");
    out.file_version = version;
    out.start_time = wall_time;
  }
  for (const auto& s : summaries) decode_summary(file, s, step, wall_time, out.scalars);
}

// ---- TFRecord framing -------------------------------------------------------

std::string le_bytes(uint64_t v, int n) {
  std::string s;
  put_le(s, v, n);
  return s;
}

std::string hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "localhost";
  return buf;
}

std::string hex(uint32_t v) {
  std::ostringstream os;
  os << "0x" << std::hex << std::setw(8) << std::setfill('0') << v;
  return os.str();
}

}  // namespace

double wall_time_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

EventFileWriter::EventFileWriter(const std::string& dir) {
  const double now = wall_time_now();
  const std::string base =
      (std::filesystem::path(dir) /
       ("events.out.tfevents." + std::to_string(static_cast<int64_t>(now)) + "." + hostname()))
          .string();
  path_ = base;
  for (int n = 1; std::filesystem::exists(path_); ++n) path_ = base + "." + std::to_string(n);
  out_.open(path_, std::ios::binary | std::ios::out);
  LOCKSTEP_CHECK(out_.is_open(), "events file '" << path_ << "': cannot open for writing");
  std::string event;
  put_double(event, kEventWallTime, now);
  put_bytes(event, kEventFileVersion, kFileVersion);
  write_record(event);
  flush();
}

void EventFileWriter::write_record(const std::string& data) {
  const std::string len = le_bytes(data.size(), 8);
  out_ << len << le_bytes(mask_crc(crc32c(len.data(), len.size())), 4) << data
       << le_bytes(mask_crc(crc32c(data.data(), data.size())), 4);
}

void EventFileWriter::add_scalar(const ScalarEvent& scalar) {
  write_record(encode_scalar_event(scalar));
}

void EventFileWriter::flush() {
  out_.flush();
  LOCKSTEP_CHECK(out_.good(), "events file '" << path_ << "': write failed");
}

EventFile read_event_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  LOCKSTEP_CHECK(in.is_open(), "events file '" << path << "': cannot open for reading");
  const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EventFile out;
  size_t pos = 0;
  for (bool first = true; pos < file.size(); first = false) {
    const auto check = [&](bool ok, const std::string& what, const std::string& found) {
      if (!ok)
        throw Error("events file '" + path + "', record at byte " + std::to_string(pos) +
                    ": expected " + what + ", found " + found);
    };
    check(file.size() - pos >= 12, "a 12-byte record header",
          std::to_string(file.size() - pos) + " bytes (file truncated)");
    const uint64_t len = le_at(file, pos, 8);
    const auto len_crc = static_cast<uint32_t>(le_at(file, pos + 8, 4));
    const uint32_t want_len_crc = mask_crc(crc32c(file.data() + pos, 8));
    check(len_crc == want_len_crc, "length CRC " + hex(want_len_crc), hex(len_crc));
    check(len <= file.size() - pos - 12 && file.size() - pos - 12 - len >= 4,
          std::to_string(len) + " data bytes and a 4-byte CRC",
          std::to_string(file.size() - pos - 12) + " bytes (file truncated)");
    const std::string data = file.substr(pos + 12, len);
    const auto data_crc = static_cast<uint32_t>(le_at(file, pos + 12 + len, 4));
    const uint32_t want_data_crc = mask_crc(crc32c(data.data(), data.size()));
    check(data_crc == want_data_crc, "data CRC " + hex(want_data_crc), hex(data_crc));
    decode_event(path, data, pos + 12, first, out);
    pos += 12 + len + 4;
  }
  LOCKSTEP_CHECK(!out.file_version.empty(),
                 "events file '" << path << "': expected at least the file_version event, found "
                                 << "an empty file");
  return out;
}

std::vector<std::string> event_files_in(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string().find("tfevents") != std::string::npos)
      files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace lockstep::trainer
