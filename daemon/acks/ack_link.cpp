// acks/ack_link: HMAC-SHA256 signed acknowledgement tokens, see ack_link.hpp for the layout.
#include "acks/ack_link.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <cstdint>

namespace herald::acks {

namespace {

constexpr unsigned char kVersion = 1;
constexpr size_t kBodyBytes = 1 + 8 + 8;
constexpr size_t kMacBytes = 16;
constexpr size_t kTokenBytes = kBodyBytes + kMacBytes;  // 33: a multiple of 3, no padding
constexpr size_t kTokenChars = kTokenBytes / 3 * 4;     // 44

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

using Bytes = std::array<unsigned char, kTokenBytes>;

void put_be64(unsigned char* out, int64_t v) {
  auto u = static_cast<uint64_t>(v);
  for (int i = 7; i >= 0; --i, u >>= 8) out[i] = static_cast<unsigned char>(u & 0xFF);
}

int64_t get_be64(const unsigned char* in) {
  uint64_t u = 0;
  for (int i = 0; i < 8; ++i) u = (u << 8) | in[i];
  return static_cast<int64_t>(u);
}

/// HMAC-SHA256 of the body, truncated. False if OpenSSL fails.
bool mac(const unsigned char* body, std::string_view secret, unsigned char* out) {
  static const unsigned char kEmpty = 0;
  const void* key = secret.empty() ? &kEmpty : static_cast<const void*>(secret.data());
  std::array<unsigned char, EVP_MAX_MD_SIZE> full{};
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key, static_cast<int>(secret.size()), body, kBodyBytes, full.data(),
           &length) == nullptr ||
      length < kMacBytes)
    return false;
  std::copy(full.begin(), full.begin() + kMacBytes, out);
  OPENSSL_cleanse(full.data(), full.size());
  return true;
}

int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

}  // namespace

std::string sign_ack_token(const AckClaim& c, std::string_view secret) {
  Bytes b{};
  b[0] = kVersion;
  put_be64(&b[1], c.delivery_id);
  put_be64(&b[9], c.expires_at_s);
  if (!mac(b.data(), secret, &b[kBodyBytes])) return {};
  std::string out;
  out.reserve(kTokenChars);
  for (size_t i = 0; i < kTokenBytes; i += 3) {
    uint32_t v = (uint32_t{b[i]} << 16) | (uint32_t{b[i + 1]} << 8) | b[i + 2];
    for (int shift = 18; shift >= 0; shift -= 6) out += kAlphabet[(v >> shift) & 0x3F];
  }
  return out;
}

AckVerify verify_ack_token(std::string_view token, std::string_view secret, int64_t now_s) {
  AckVerify result;  // malformed
  if (token.size() != kTokenChars) return result;
  Bytes b{};
  for (size_t i = 0, o = 0; i < kTokenChars; i += 4, o += 3) {
    uint32_t v = 0;
    for (size_t k = 0; k < 4; ++k) {
      int s = sextet(token[i + k]);
      if (s < 0) return result;
      v = (v << 6) | static_cast<uint32_t>(s);
    }
    b[o] = static_cast<unsigned char>(v >> 16);
    b[o + 1] = static_cast<unsigned char>(v >> 8);
    b[o + 2] = static_cast<unsigned char>(v);
  }
  if (b[0] != kVersion) return result;
  std::array<unsigned char, kMacBytes> expected{};
  if (!mac(b.data(), secret, expected.data()) ||
      CRYPTO_memcmp(expected.data(), &b[kBodyBytes], kMacBytes) != 0) {
    result.error = AckTokenError::bad_signature;
    return result;
  }
  result.claim = {get_be64(&b[1]), get_be64(&b[9])};
  result.error = now_s >= result.claim.expires_at_s ? AckTokenError::expired : AckTokenError::none;
  return result;
}

}  // namespace herald::acks
