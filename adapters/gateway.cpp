#include "adapters/gateway.hpp"

#include "settings/yaml_reader.hpp"

namespace herald {

void read_common(MapReader& r, Gateway& g) {
  if (auto v = r.integer("rate", 0, 1'000'000)) g.limits_.rate_per_s = static_cast<double>(*v);
  if (auto v = r.integer("concurrency", 1, 10'000)) g.limits_.concurrency = static_cast<int>(*v);
  if (auto v = r.positive_duration_ms("timeout")) g.limits_.timeout_ms = *v;
  if (auto v = r.boolean("unaccented")) g.unaccented_ = *v;
  YAML::Node b = r.child("breaker");
  if (b.IsDefined()) {
    MapReader br(b, r.diag(), r.what() + ".breaker", r.mark("breaker"));
    if (br.is_map()) {
      if (auto v = br.integer("failures", 1, 10'000)) g.limits_.breaker_failures = static_cast<int>(*v);
      if (auto v = br.positive_duration_ms("cooldown")) g.limits_.breaker_cooldown_ms = *v;
      br.finish();
    }
  }
}

void read_mo_token(MapReader& r, Gateway& g) {
  if (auto v = r.secret("mo_token")) {
    if (v->reveal().size() < 16)
      r.diag().error(r.mark("mo_token"), r.what() + ".mo_token: must be at least 16 characters (it is what "
                                                    "keeps anyone else from posting replies)");
    else if (v->reveal().find_first_of("/?#% ") != std::string::npos)
      r.diag().error(r.mark("mo_token"), r.what() + ".mo_token: must not contain / ? # % or spaces (it is a "
                                                    "path segment of the reply URL)");
    else
      g.mo_token_ = std::move(*v);
  }
}

SendError transport_error(const net::HttpResponse& r) {
  switch (r.result) {
    case CURLE_OK: return {};
    case CURLE_OPERATION_TIMEDOUT:
      return {SendErrorKind::timeout, "timeout", r.error};
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
      return {SendErrorKind::connection_failed, "connect_" + std::to_string(r.result), r.error};
    case CURLE_WRITE_ERROR:
    case CURLE_FILESIZE_EXCEEDED:
      // The answer ran past net::kMaxResponseBytes: whatever it said is not an answer.
      return {SendErrorKind::unknown, "response_too_large", r.error};
    default:
      return {SendErrorKind::connection_failed, "curl_" + std::to_string(r.result), r.error};
  }
}

}  // namespace herald
