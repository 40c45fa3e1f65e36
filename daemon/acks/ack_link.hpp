#pragma once
// Signed, expiring acknowledgement links: an email or Zalo recipient acknowledges by opening
// /ack/<token>. The token is base64url without padding (44 characters, only A-Z a-z 0-9 - _)
// of 33 bytes: version (1), delivery id (8 bytes, big-endian, two's complement), expiry in
// Unix seconds (8 bytes, big-endian), then HMAC-SHA256 over those 17 bytes keyed with the
// secret, truncated to 16 bytes. The secret should be at least 32 random bytes.
#include <cstdint>
#include <string>
#include <string_view>

namespace herald::acks {

struct AckClaim {
  int64_t delivery_id = 0;
  int64_t expires_at_s = 0;  ///< Unix seconds; the token is expired from this second on
};

/// The token for `c`, signed with `secret`.
std::string sign_ack_token(const AckClaim& c, std::string_view secret);

enum class AckTokenError { none, malformed, bad_signature, expired };

struct AckVerify {
  AckTokenError error = AckTokenError::malformed;
  /// The claim, filled when the signature is good (error none or expired).
  AckClaim claim;
};

/// Checks a token: malformed (wrong length, a character outside base64url, an unknown
/// version), then the signature (constant-time, CRYPTO_memcmp), then expiry: expired when
/// `now_s` >= expires_at_s. A tampered expired token is therefore bad_signature.
AckVerify verify_ack_token(std::string_view token, std::string_view secret, int64_t now_s);

}  // namespace herald::acks
