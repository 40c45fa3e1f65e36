// A recipient's SMS or Zalo reply ("OK 158", "Đã nhận 158", "xn"): parse_reply, then the
// choice among a sender's open directives. Input: the reply text, any bytes.
#include <cstdlib>
#include <string_view>

#include "acks/reply.hpp"

using namespace herald;
using namespace herald::acks;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  ParsedReply r = parse_reply(text);
  // A code a reply names is always one resolve() can match (acks/reply.hpp).
  if (!r.code.empty() && !is_ack_code(r.code)) std::abort();
  if (r.code != normalize_code(r.code)) std::abort();
  static const std::vector<std::string> kOpen = {"158", "158a", "5"};
  (void)resolve(r, kOpen);
  (void)resolve(r, {});
  (void)resolve(r, {"158"});
  return 0;
}
