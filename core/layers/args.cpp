// The layer-spec parser (args.hpp).

#include "core/layers/args.hpp"

#include <algorithm>
#include <cctype>

#include "core/error.hpp"

namespace lockstep {
namespace {

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

}  // namespace

std::vector<std::string> split_layer_spec(const std::string& spec) {
  std::vector<std::string> tokens;
  std::string cur;
  int depth = 0;
  for (char c : spec) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    LOCKSTEP_CHECK(depth >= 0, "model layers '" << spec << "': unbalanced ')'");
    if (c == ',' && depth == 0) {
      tokens.push_back(trim(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  LOCKSTEP_CHECK(depth == 0, "model layers '" << spec << "': unbalanced '('");
  tokens.push_back(trim(cur));
  for (const auto& t : tokens)
    LOCKSTEP_CHECK(!t.empty(), "model layers '" << spec << "': empty layer between commas");
  return tokens;
}

LayerArgs::LayerArgs(const std::string& token) : token_(token), name_(token) {
  const size_t open = token.find('(');
  if (open == std::string::npos) return;
  LOCKSTEP_CHECK(token.back() == ')', "layer '" << token << "': expected ')' at the end");
  name_ = trim(token.substr(0, open));
  const std::string inside = trim(token.substr(open + 1, token.size() - open - 2));
  if (!inside.empty()) raw_ = split_layer_spec(inside);
}

void LayerArgs::bind(const std::vector<ArgSpec>& args, const std::vector<std::string>& flags) {
  values_.clear();
  flags_.clear();
  size_t next = 0;  // the next positional argument
  for (const std::string& arg : raw_) {
    if (std::find(flags.begin(), flags.end(), arg) != flags.end()) {
      LOCKSTEP_CHECK(flags_.empty(), "layer '" << token_ << "': '" << flags_.front() << "' and '"
                                               << arg << "' given together; expected one");
      flags_.push_back(arg);
      continue;
    }
    std::string name, value = arg;
    if (const size_t eq = arg.find('='); eq != std::string::npos) {
      name = trim(arg.substr(0, eq));
      value = trim(arg.substr(eq + 1));
      LOCKSTEP_CHECK(
          std::any_of(args.begin(), args.end(), [&](const ArgSpec& a) { return a.name == name; }),
          "layer '" << token_ << "': unknown argument '" << name << "'");
    } else {
      while (next < args.size() && !args[next].positional) ++next;
      LOCKSTEP_CHECK(next < args.size(),
                     "layer '" << token_ << "': unexpected argument '" << arg << "'");
      name = args[next++].name;
    }
    LOCKSTEP_CHECK(!find(name), "layer '" << token_ << "': '" << name << "' given twice");
    values_.emplace_back(name, value);
  }
}

const std::string* LayerArgs::find(const std::string& name) const {
  for (const auto& [n, v] : values_)
    if (n == name) return &v;
  return nullptr;
}

int64_t LayerArgs::integer(const std::string& name, std::optional<int64_t> fallback) const {
  const std::string* v = find(name);
  if (!v) {
    LOCKSTEP_CHECK(fallback, "layer '" << token_ << "': missing argument " << name);
    return *fallback;
  }
  size_t used = 0;
  long long n = -1;
  try {
    n = std::stoll(*v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  LOCKSTEP_CHECK(used == v->size() && !v->empty() && n >= 0,
                 "layer '" << token_ << "': expected a non-negative integer for " << name
                           << ", got '" << *v << "'");
  return n;
}

double LayerArgs::number(const std::string& name, std::optional<double> fallback) const {
  const std::string* v = find(name);
  if (!v) {
    LOCKSTEP_CHECK(fallback, "layer '" << token_ << "': missing argument " << name);
    return *fallback;
  }
  size_t used = 0;
  double d = 0;
  try {
    d = std::stod(*v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  LOCKSTEP_CHECK(used == v->size() && !v->empty(), "layer '" << token_
                                                             << "': expected a number for " << name
                                                             << ", got '" << *v << "'");
  return d;
}

std::string LayerArgs::text(const std::string& name, std::optional<std::string> fallback) const {
  const std::string* v = find(name);
  if (!v) {
    LOCKSTEP_CHECK(fallback, "layer '" << token_ << "': missing argument " << name);
    return *fallback;
  }
  return *v;
}

std::string LayerArgs::flag(const std::vector<std::string>& choices) const {
  for (const std::string& f : flags_)
    if (std::find(choices.begin(), choices.end(), f) != choices.end()) return f;
  return "";
}

void LayerArgs::expect_none() const {
  LOCKSTEP_CHECK(raw_.empty(), "layer '" << token_ << "': expected no arguments");
}

}  // namespace lockstep
