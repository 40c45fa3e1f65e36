#include "adapters/send_error.hpp"

namespace herald {

bool SendError::retryable() const {
  switch (kind) {
    case SendErrorKind::rejected_number:
    case SendErrorKind::rejected_content:
    case SendErrorKind::bad_request:
      return false;
    default:
      return true;
  }
}

bool SendError::counts_against_gateway() const {
  return kind == SendErrorKind::connection_failed || kind == SendErrorKind::timeout ||
         kind == SendErrorKind::server_error || kind == SendErrorKind::auth_failed;
}

std::string_view to_string(SendErrorKind k) {
  switch (k) {
    case SendErrorKind::none: return "none";
    case SendErrorKind::connection_failed: return "connection_failed";
    case SendErrorKind::timeout: return "timeout";
    case SendErrorKind::server_error: return "server_error";
    case SendErrorKind::throttled: return "throttled";
    case SendErrorKind::auth_failed: return "auth_failed";
    case SendErrorKind::token_expired: return "token_expired";
    case SendErrorKind::rejected_number: return "rejected_number";
    case SendErrorKind::rejected_content: return "rejected_content";
    case SendErrorKind::bad_request: return "bad_request";
    case SendErrorKind::unknown: return "unknown";
  }
  return "unknown";
}

}  // namespace herald
