#include "adapters/sms/http_json/http_json.hpp"

#include "settings/yaml_reader.hpp"

namespace herald {

TemplateValues HttpJsonGateway::values(const OutboundMessage& m) {
  return message_values(m, [&m](const std::string& key) -> std::optional<std::string> {
    if (key == "to_msisdn") return m.address.rfind('+', 0) == 0 ? m.address.substr(1) : m.address;
    if (key == "to_national") return m.address.rfind("+84", 0) == 0 ? "0" + m.address.substr(3) : m.address;
    if (key == "text") return m.text;
    if (key == "coding") return std::string(m.coding == SmsCoding::ucs2 ? "ucs2" : "gsm7");
    return std::nullopt;
  });
}

net::HttpRequest HttpJsonGateway::build(const OutboundMessage& m) const {
  return api.request(values(m), limits_.timeout_ms);
}

std::unique_ptr<Gateway> HttpJsonGateway::from_yaml(const std::string& name, MapReader& r) {
  auto g = std::make_unique<HttpJsonGateway>();
  g->name_ = name;
  OutboundMessage probe;
  probe.address = "+84912000000";
  probe.text = "probe";
  g->api.read(r, {{"to", "to_msisdn", "to_national", "text", "token", "receipt_url", "delivery_id", "coding"},
                  values(probe),
                  {}});
  read_common(r, *g);
  read_mo_token(r, *g);
  return g;
}

}  // namespace herald
