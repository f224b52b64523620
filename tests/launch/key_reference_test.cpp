// The README's key reference (section "Configuration keys") lists every
// configuration key the trainer has, each with its real default, and no key
// the trainer does not have. On a failure the test prints the row the README
// should hold.

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>

#include "launch/options.hpp"

namespace lockstep::launch {
namespace {

// The rows "| `section.key` | `default` | ... |" of the README's key reference.
std::map<std::string, std::string> readme_keys() {
  std::ifstream in(std::string(LOCKSTEP_SOURCE_DIR) + "/README.md");
  EXPECT_TRUE(in.good()) << "cannot read README.md";
  std::map<std::string, std::string> rows;
  const std::regex row(R"(^\| `([a-z_]+\.[a-z_0-9]+)` \| (`[^`]*`|\(none\)) \|.*)");
  std::string line;
  bool in_reference = false;
  while (std::getline(in, line)) {
    if (line.rfind("#", 0) == 0)
      in_reference = line.find("Configuration keys") != std::string::npos;
    std::smatch m;
    if (in_reference && std::regex_match(line, m, row)) {
      const std::string d = m[2].str();
      rows[m[1].str()] = d == "(none)" ? std::string() : d.substr(1, d.size() - 2);
    }
  }
  return rows;
}

std::string expected_row(const ConfigKey& k) {
  std::ostringstream os;
  os << "| `" << k.name << "` | ";
  if (!k.default_text.empty()) {
    os << '`' << k.default_text << '`';
  } else {
    os << "(none)";
  }
  os << " | " << k.help << " |";
  return os.str();
}

TEST(KeyReference, ReadmeListsEveryKeyWithItsDefault) {
  const std::map<std::string, std::string> rows = readme_keys();
  ASSERT_FALSE(rows.empty()) << "README.md has no key reference table under 'Configuration keys'";
  for (const ConfigKey& k : config_keys()) {
    const auto it = rows.find(k.name);
    if (it == rows.end()) {
      ADD_FAILURE() << "README key reference lacks " << k.name << "; expected:\n" << expected_row(k);
      continue;
    }
    EXPECT_EQ(it->second, k.default_text)
        << k.name << ": the README's default is not the real one; "
        << "expected:\n"
        << expected_row(k);
  }
  std::map<std::string, bool> known;
  for (const ConfigKey& k : config_keys()) known[k.name] = true;
  for (const auto& [key, value] : rows)
    EXPECT_TRUE(known.count(key)) << "README key reference lists " << key << ", which is no key";
}

}  // namespace
}  // namespace lockstep::launch
