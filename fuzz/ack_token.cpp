// GET /ack/<token>: the signed acknowledgement link anyone can open (acks/ack_link.hpp).
// Input: the token as it arrives in the path.
#include <cstdlib>
#include <string_view>

#include "acks/ack_link.hpp"

using namespace herald::acks;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr std::string_view kSecret = "fuzz-ack-secret-0123456789abcdef0123456789";
  std::string_view token(reinterpret_cast<const char*>(data), size);
  AckVerify v = verify_ack_token(token, kSecret, 1626080000);
  // A token that checks out is one this secret signed: signing its claim gives it back.
  if (v.error == AckTokenError::none && sign_ack_token(v.claim, kSecret) != token) std::abort();
  return 0;
}
