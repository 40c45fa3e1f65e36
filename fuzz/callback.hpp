#pragma once
// What the provider-callback targets share: a gateway built from YAML as config builds
// it, and one fuzz input read as the HTTP callback the daemon would hand that gateway.
//
// Input layout (the seeds in corpus/*_callback/ follow it):
//   line 1   the query string, percent-encoded, as after '?' in the request target
//   line 2   the Content-Type header
//   rest     the body
// The query is decoded by Boost.URL exactly as http/api.cpp decodes it for /hooks/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/url.hpp>

#include "settings/diagnostics.hpp"
#include "settings/yaml_reader.hpp"
#include "adapters/registry.hpp"

namespace herald::fuzz {

/// A gateway from its YAML; aborts when config refuses it (a broken harness, not a find).
inline std::unique_ptr<Gateway> gateway(const std::string& name, const std::string& yaml) {
  Diagnostics diag("fuzz");
  std::unique_ptr<Gateway> g;
  if (auto node = load_yaml_string(yaml, diag)) g = make_gateway(name, *node, diag);
  if (!g || !diag.ok()) {
    for (const auto& e : diag.errors()) std::fprintf(stderr, "%s\n", e.str().c_str());
    std::abort();
  }
  return g;
}

/// The callback in `data` (layout above); nullopt when the daemon would answer 400 before
/// any gateway saw it (a request target Boost.URL refuses).
inline std::optional<InboundCallback> callback(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto line = [&in]() {
    size_t nl = in.find('\n');
    std::string_view l = in.substr(0, nl);
    in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
    return l;
  };
  std::string_view query = line();
  std::string_view type = line();
  const std::string target = "/hooks/sms/fuzz/00000000000000000000000000000000?" + std::string(query);
  auto url = boost::urls::parse_origin_form(target);  // a view into `target`
  if (!url) return std::nullopt;
  InboundCallback cb;
  for (auto p : url->params()) cb.query[std::string(p.key)] = std::string(p.value);
  cb.content_type = std::string(type);
  cb.body = std::string(in);
  cb.method = cb.body.empty() ? "GET" : "POST";
  return cb;
}

/// Runs every parser a gateway has for what a provider sends: the callback as a receipt
/// and as a reply (MO), and the body as the provider's answer to a send, for the statuses
/// adapters tell apart.
inline void parse_all(const Gateway& g, const InboundCallback& cb) {
  ReceiptParse r = g.parse_receipt(cb);
  if (r.receipt && r.receipt->status.empty() && r.error.empty()) std::abort();  // a receipt names its status
  std::optional<InboundReply> mo = g.parse_mo(cb);
  if (mo && mo->from.empty()) std::abort();  // a reply without a sender is no reply
  for (long status : {200L, 202L, 400L, 401L, 403L, 429L, 503L}) {
    net::HttpResponse res;
    res.status = status;
    res.body = cb.body;
    (void)g.parse(res);
  }
}

}  // namespace herald::fuzz
