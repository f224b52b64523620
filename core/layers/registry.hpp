#pragma once
// The layer registry: every layer kind the config language knows, with its
// synopsis, built from a spec token by the kind's factory. Adding a layer
// means one file in core/layers/ (class, saved record, factory), one line in
// the table in registry.cpp, its ops and tests, and one README line.

#include <memory>
#include <string>
#include <vector>

#include "core/layers/args.hpp"
#include "core/layers/layer.hpp"

namespace lockstep {

/// Builds one layer from its spec token, e.g. "dense(256)" or
/// "conv2d(32, 3, padding=1)". Throws naming the token (and, for an unknown
/// kind, every known kind's synopsis).
std::unique_ptr<Layer> make_layer(const std::string& token);

/// The synopses of every known kind, e.g. "dense(units[, nobias])", in table order.
std::vector<std::string> layer_synopses();

}  // namespace lockstep
