#pragma once
// Every gateway type Herald knows, and gateways built from configuration. The types are
// one list, in adapters/CMakeLists.txt; the build turns it into the table registry.cpp
// reads (a static library would silently drop self-registering objects nothing refers to).
#include <memory>
#include <string>

#include "adapters/gateway.hpp"
#include "config/config.hpp"

namespace herald {

/// The gateway types, as the config loader asks about them.
const GatewayCatalog& gateway_catalog();

/// Builds gateway `name` from its YAML (the value under `gateways.<name>:`), or reports
/// why not to `diag`.
std::unique_ptr<Gateway> make_gateway(const std::string& name, const YAML::Node& node, Diagnostics& diag);

/// The live gateways of a loaded configuration, built once when heraldd starts. Throws
/// std::runtime_error should one not build (the loader has checked each already).
Gateways make_gateways(const Config& cfg);

}  // namespace herald
