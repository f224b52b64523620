#pragma once
// The one parser of layer specs. A model is a comma-separated list of layer
// tokens, "dense(256), relu, residual(conv2d(16, 3, padding=1), relu)"; a
// token is a kind name with optional arguments in parentheses. Arguments are
// given by position (in the order the kind declares) or by name
// ("kernel=3"), or are bare flags ("nobias", "sync"). Every error names the
// token as written.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lockstep {

/// Splits "dense(256), relu, dense(10)" into tokens at top-level commas.
std::vector<std::string> split_layer_spec(const std::string& spec);

/// One declared argument of a layer kind.
struct ArgSpec {
  std::string name;
  bool positional = true;  // false: only as name=value
};

class LayerArgs {
 public:
  /// Splits a token into its kind name and its arguments as written.
  explicit LayerArgs(const std::string& token);

  const std::string& token() const { return token_; }
  const std::string& name() const { return name_; }
  /// The arguments as written (e.g. the nested layers of a residual block).
  const std::vector<std::string>& raw() const { return raw_; }

  /// Assigns the arguments to `args` (positional ones in order, or by name)
  /// and to at most one of the bare words in `flags`. Throws on an unknown name, a value
  /// given twice, or more positional values than declared.
  void bind(const std::vector<ArgSpec>& args, const std::vector<std::string>& flags = {});

  /// A non-negative integer argument; `fallback` when not given (throws
  /// "missing argument NAME" when there is none).
  int64_t integer(const std::string& name, std::optional<int64_t> fallback = std::nullopt) const;
  /// A real-valued argument, likewise.
  double number(const std::string& name, std::optional<double> fallback = std::nullopt) const;
  /// A word-valued argument ("mode=bilinear"), likewise.
  std::string text(const std::string& name,
                   std::optional<std::string> fallback = std::nullopt) const;
  /// The flag among `choices` that was given (at most one may be), or "".
  std::string flag(const std::vector<std::string>& choices) const;
  /// Throws unless the token has no arguments.
  void expect_none() const;

 private:
  const std::string* find(const std::string& name) const;

  std::string token_, name_;
  std::vector<std::string> raw_;
  std::vector<std::pair<std::string, std::string>> values_;  // name, value as written
  std::vector<std::string> flags_;
};

}  // namespace lockstep
