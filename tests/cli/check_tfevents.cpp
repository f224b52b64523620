// Checks a run directory's TensorBoard events file against its metrics.jsonl:
// every numeric field of every record (but "step" and "time") is a scalar
// "<type>/<field>" at the record's step with the same value (as a float) and
// the record's time as wall time, and nothing else is there. Every record
// must have a step and a time. Usage: check_tfevents RUN_DIR
// Prints one line; exits 0 when they match, 1 when not.

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainer/tensorboard.hpp"

using lockstep::trainer::ScalarEvent;

namespace {

using Key = std::tuple<std::string, int64_t, float, double>;

std::vector<Key> expected_from_jsonl(const std::string& path, size_t& records) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open '" + path + "'");
  std::vector<Key> keys;
  std::string line;
  while (std::getline(in, line)) {
    const nlohmann::json r = nlohmann::json::parse(line);
    ++records;
    for (const auto& [field, value] : r.items())
      if (value.is_number() && field != "step" && field != "time")
        keys.emplace_back(r.at("type").get<std::string>() + "/" + field,
                          r.at("step").get<int64_t>(), value.get<float>(),
                          r.at("time").get<double>());
  }
  return keys;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: check_tfevents RUN_DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  try {
    const std::vector<std::string> files = lockstep::trainer::event_files_in(dir);
    if (files.size() != 1) {
      std::printf("FAIL: expected one events.out.tfevents.* file in %s, found %zu\n", dir.c_str(),
                  files.size());
      return 1;
    }
    const lockstep::trainer::EventFile f = lockstep::trainer::read_event_file(files[0]);
    size_t records = 0;
    std::vector<Key> want = expected_from_jsonl(dir + "/metrics.jsonl", records);
    std::vector<Key> got;
    double last_time = f.start_time;
    for (const ScalarEvent& s : f.scalars) {
      got.emplace_back(s.tag, s.step, s.value, s.wall_time);
      if (s.wall_time < last_time) {
        std::printf("FAIL: %s: wall_time goes back from %.3f to %.3f at %s step %lld\n",
                    files[0].c_str(), last_time, s.wall_time, s.tag.c_str(),
                    static_cast<long long>(s.step));
        return 1;
      }
      last_time = s.wall_time;
    }
    std::sort(want.begin(), want.end());
    std::sort(got.begin(), got.end());
    if (want != got || want.empty()) {
      std::printf(
          "FAIL: %s holds %zu scalars, metrics.jsonl's %zu records give %zu; first "
          "difference:\n",
          files[0].c_str(), got.size(), records, want.size());
      const auto [w, g] = std::mismatch(want.begin(), want.end(), got.begin(), got.end());
      if (w != want.end())
        std::printf("  expected %s step %lld = %.9g\n", std::get<0>(*w).c_str(),
                    static_cast<long long>(std::get<1>(*w)), std::get<2>(*w));
      if (g != got.end())
        std::printf("  found    %s step %lld = %.9g\n", std::get<0>(*g).c_str(),
                    static_cast<long long>(std::get<1>(*g)), std::get<2>(*g));
      return 1;
    }
    std::printf("ok   %s: %zu scalars match the %zu records of metrics.jsonl (%s)\n",
                files[0].c_str(), got.size(), records, f.file_version.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::printf("FAIL: %s\n", e.what());
    return 1;
  }
}
