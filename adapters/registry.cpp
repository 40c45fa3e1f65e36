#include "adapters/registry.hpp"

#include <stdexcept>

#include "settings/yaml_reader.hpp"
// The adapters of adapters/CMakeLists.txt's list, generated from it.
#include "gateway_headers.inc"

namespace herald {

namespace {

struct GatewayType {
  const char* name;
  std::unique_ptr<Gateway> (*make)(const std::string&, MapReader&);
};

constexpr GatewayType kGatewayTypes[] = {
#include "gateway_table.inc"
};

class Catalog final : public GatewayCatalog {
 public:
  std::optional<GatewaySpec> check(const std::string& name, const YAML::Node& node, Diagnostics& diag) const override {
    const size_t errors = diag.errors().size();
    auto g = make_gateway(name, node, diag);
    if (!g || diag.errors().size() != errors) return std::nullopt;
    return GatewaySpec{node["type"].Scalar(), g->channel(), std::make_shared<const YAML::Node>(node)};
  }
};

}  // namespace

const GatewayCatalog& gateway_catalog() {
  static const Catalog catalog;
  return catalog;
}

std::unique_ptr<Gateway> make_gateway(const std::string& name, const YAML::Node& node, Diagnostics& diag) {
  MapReader r(node, diag, "gateways." + name);
  if (!r.is_map()) return nullptr;
  auto type = r.string("type", true);
  if (!type) return nullptr;
  for (const auto& t : kGatewayTypes)
    if (*type == t.name) {
      auto g = t.make(name, r);
      r.finish();
      return g;
    }
  std::string known;
  for (const auto& t : kGatewayTypes) known += (known.empty() ? "" : ", ") + std::string(t.name);
  diag.error(r.child("type").Mark(), "unknown gateway type \"" + *type + "\" (known: " + known + ")");
  return nullptr;
}

Gateways make_gateways(const Config& cfg) {
  Gateways out;
  for (const auto& [name, spec] : cfg.gateways) {
    Diagnostics diag(cfg.file);
    auto g = make_gateway(name, *spec.node, diag);
    if (!g || !diag.ok())
      throw std::runtime_error("gateway " + name + ": " + (diag.ok() ? "cannot be built" : diag.errors().front().str()));
    out.emplace(name, std::move(g));
  }
  return out;
}

}  // namespace herald
