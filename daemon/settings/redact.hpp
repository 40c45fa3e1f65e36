#pragma once
// Secrets kept out of text that came from elsewhere. A provider's answer may quote the
// request it was sent (its URL, with a key in the query; the key it refused; a proxy's
// error page naming the URL), and that answer is logged, kept in the store as the
// delivery's error and shown by the API and heraldctl: it is scrubbed first.
#include <string>

namespace herald {

/// Secrets shorter than this are not scrubbed: they would garble every text that happens
/// to contain them, and are no secret anyway (admin tokens and mo_tokens are 16 or more).
inline constexpr size_t kMinRedactedSecret = 8;

/// Adds `value` to what redact_secrets() removes. resolve_secret() adds every secret it
/// resolves (the whole config's: broker, admin tokens, gateways); a gateway adds the
/// credentials it is given later (Zalo's refreshed tokens). Thread-safe.
void remember_secret(const std::string& value);

/// `text` with each remembered secret replaced by "***": as written, percent-encoded
/// (either case) and JSON-escaped.
std::string redact_secrets(std::string text);

/// Forgets every remembered secret. For the fuzz targets, which load a config per input:
/// without it each input's secrets stay behind, memory grows and every later input runs
/// against a longer list.
void forget_secrets();

}  // namespace herald
