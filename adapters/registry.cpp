// Every gateway type Herald knows, in one explicit list (a static library would silently
// drop self-registering objects that nothing references).
#include <array>

#include "settings/yaml_reader.hpp"
#include "email/http_api/http_email.hpp"
#include "email/smtp/smtp.hpp"
#include "gateway.hpp"
#include "loudspeaker/controller/controller.hpp"
#include "sms/http_json/http_json.hpp"
#include "sms/kannel/kannel.hpp"
#include "zalo/zalo.hpp"

namespace herald {

namespace {

struct GatewayType {
  const char* name;
  std::unique_ptr<Gateway> (*make)(const std::string&, MapReader&);
};

constexpr std::array<GatewayType, 7> kGatewayTypes{{
    {"kannel", &KannelGateway::from_yaml},
    {"http_json", &HttpJsonGateway::from_yaml},
    {"zalo_oa", &ZaloOaGateway::from_yaml},
    {"zalo_zns", &ZaloZnsGateway::from_yaml},
    {"smtp", &SmtpGateway::from_yaml},
    {"http_email", &HttpEmailGateway::from_yaml},
    {"loudspeaker_http", &LoudspeakerControllerGateway::from_yaml},
}};

}  // namespace

std::unique_ptr<Gateway> make_gateway(const std::string& name, const YAML::Node& node,
                                      Diagnostics& diag) {
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

}  // namespace herald
