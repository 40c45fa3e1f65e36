#pragma once
// An outbound HTTP (or SMTP) request and its answer, as adapters build and read them and
// net::CurlMulti carries them. Plain data: no I/O here, so an adapter needs no Asio.
#include <curl/curl.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace herald::net {

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
  long timeout_ms = 15000;
  long connect_timeout_ms = 5000;
  /// Extra libcurl options (TLS, credentials); runs before the request is added. Only
  /// for options libcurl copies (strings, numbers): nothing here outlives the call.
  std::function<void(CURL*)> customize;
  /// method "SMTP": `url` is smtp:// or smtps://, `body` the whole message (uploaded;
  /// libcurl dot-stuffs it), `mail_from` and `mail_rcpt` the envelope ("<a@b>").
  std::string mail_from;
  std::vector<std::string> mail_rcpt;
};

/// The most of a provider's answer heraldd keeps: beyond it the transfer is ended
/// (CURLE_WRITE_ERROR, or CURLE_FILESIZE_EXCEEDED when the length was announced).
inline constexpr size_t kMaxResponseBytes = 1 << 20;

struct HttpResponse {
  CURLcode result = CURLE_OK;  // transport outcome
  long status = 0;             // HTTP status, or the last SMTP reply code
  std::string body;
  std::string error;           // libcurl's message when result != CURLE_OK
  int64_t retry_after_ms = 0;  // the answer's Retry-After (seconds or an HTTP date), if any
  bool timed_out() const { return result == CURLE_OPERATION_TIMEDOUT; }
};

}  // namespace herald::net
