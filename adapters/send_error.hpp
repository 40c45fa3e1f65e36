#pragma once
// The one error set every adapter maps provider outcomes onto. Adapters translate; the
// dispatcher alone decides what happens next (retry, fall back, give up).
#include <string>
#include <string_view>

namespace herald {

enum class SendErrorKind {
  none,
  connection_failed,  // could not connect, reset, DNS           retryable, trips breaker
  timeout,            // no answer within the request timeout      retryable, trips breaker
  server_error,       // provider 5xx / temporary failure          retryable, trips breaker
  throttled,          // provider says slow down (429, rate codes) retryable, no breaker
  auth_failed,        // our credentials refused: needs an operator retryable, trips breaker
  token_expired,      // access token to refresh, then retry       retryable
  rejected_number,    // the address cannot receive (blacklist, no account) permanent
  rejected_content,   // the message itself is refused              permanent
  bad_request,        // we sent something the provider cannot take permanent
  unknown,            // an answer we do not understand             retryable
};

struct SendError {
  SendErrorKind kind = SendErrorKind::none;
  std::string code;  // provider's code, e.g. "http_403", "kannel_denied", "zalo_-118"
  std::string text;  // provider's own words, kept on the delivery

  bool ok() const { return kind == SendErrorKind::none; }
  bool retryable() const;
  /// Whether this failure says the gateway itself is unwell (for the circuit breaker).
  bool counts_against_gateway() const;
};

std::string_view to_string(SendErrorKind k);

}  // namespace herald
