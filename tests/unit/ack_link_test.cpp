// acks/ack_link: signed, expiring /ack/<token> links.
#include "acks/ack_link.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace herald::acks {
namespace {

constexpr std::string_view kSecret = "0123456789abcdef0123456789abcdef-herald-test";
constexpr int64_t kNow = 1626062400;  // 2021-07-12T04:00:00Z
constexpr AckClaim kClaim{158042, kNow + 7 * 86400};

TEST(AckLink, RoundTrip) {
  std::string token = sign_ack_token(kClaim, kSecret);
  AckVerify v = verify_ack_token(token, kSecret, kNow);
  EXPECT_EQ(v.error, AckTokenError::none);
  EXPECT_EQ(v.claim.delivery_id, kClaim.delivery_id);
  EXPECT_EQ(v.claim.expires_at_s, kClaim.expires_at_s);
}

TEST(AckLink, RoundTripExtremeValues) {
  for (AckClaim c : {AckClaim{0, 1}, AckClaim{std::numeric_limits<int64_t>::max(),
                                              std::numeric_limits<int64_t>::max()},
                     AckClaim{-1, kNow + 1}, AckClaim{1, kNow + 1}}) {
    AckVerify v = verify_ack_token(sign_ack_token(c, kSecret), kSecret, 0);
    EXPECT_EQ(v.error, AckTokenError::none);
    EXPECT_EQ(v.claim.delivery_id, c.delivery_id);
    EXPECT_EQ(v.claim.expires_at_s, c.expires_at_s);
  }
}

TEST(AckLink, DeterministicAndDistinct) {
  EXPECT_EQ(sign_ack_token(kClaim, kSecret), sign_ack_token(kClaim, kSecret));
  EXPECT_NE(sign_ack_token(kClaim, kSecret), sign_ack_token({kClaim.delivery_id + 1, kClaim.expires_at_s}, kSecret));
  EXPECT_NE(sign_ack_token(kClaim, kSecret), sign_ack_token({kClaim.delivery_id, kClaim.expires_at_s + 1}, kSecret));
  EXPECT_NE(sign_ack_token(kClaim, kSecret), sign_ack_token(kClaim, "another secret"));
}

TEST(AckLink, TokenIsUrlSafe) {
  for (int64_t id = 0; id < 200; ++id) {
    std::string token = sign_ack_token({id * 7919, kNow + id}, kSecret);
    EXPECT_EQ(token.size(), 44u);
    for (char c : token)
      EXPECT_TRUE((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_')
          << token;
  }
}

TEST(AckLink, AnySingleChangedCharacterIsRejected) {
  std::string token = sign_ack_token(kClaim, kSecret);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (size_t i = 0; i < token.size(); ++i) {
    for (char replacement : {alphabet[(alphabet.find(token[i]) + 1) % 64],
                             alphabet[(alphabet.find(token[i]) + 32) % 64], '=', '+', '/'}) {
      std::string t = token;
      t[i] = replacement;
      AckTokenError e = verify_ack_token(t, kSecret, kNow).error;
      EXPECT_TRUE(e == AckTokenError::bad_signature || e == AckTokenError::malformed)
          << "position " << i << " -> " << replacement;
    }
  }
}

TEST(AckLink, WrongSecretIsBadSignature) {
  std::string token = sign_ack_token(kClaim, kSecret);
  EXPECT_EQ(verify_ack_token(token, "another secret", kNow).error, AckTokenError::bad_signature);
  EXPECT_EQ(verify_ack_token(token, "", kNow).error, AckTokenError::bad_signature);
  std::string near(kSecret);
  near.back() ^= 1;
  EXPECT_EQ(verify_ack_token(token, near, kNow).error, AckTokenError::bad_signature);
}

TEST(AckLink, Expired) {
  std::string token = sign_ack_token(kClaim, kSecret);
  EXPECT_EQ(verify_ack_token(token, kSecret, kClaim.expires_at_s - 1).error, AckTokenError::none);
  AckVerify v = verify_ack_token(token, kSecret, kClaim.expires_at_s);
  EXPECT_EQ(v.error, AckTokenError::expired);
  EXPECT_EQ(v.claim.delivery_id, kClaim.delivery_id);  // the claim is still told
  EXPECT_EQ(verify_ack_token(token, kSecret, kClaim.expires_at_s + 86400).error,
            AckTokenError::expired);
}

TEST(AckLink, SignatureIsCheckedBeforeExpiry) {
  std::string token = sign_ack_token({kClaim.delivery_id, kNow - 60}, kSecret);
  ASSERT_EQ(verify_ack_token(token, kSecret, kNow).error, AckTokenError::expired);
  std::string tampered = token;
  tampered[43] = tampered[43] == 'A' ? 'B' : 'A';
  EXPECT_EQ(verify_ack_token(tampered, kSecret, kNow).error, AckTokenError::bad_signature);
  EXPECT_EQ(verify_ack_token(token, "another secret", kNow).error, AckTokenError::bad_signature);
  // Moving the expiry forward by hand does not help either.
  std::string later = sign_ack_token({kClaim.delivery_id, kNow + 3600}, kSecret);
  std::string spliced = later.substr(0, 22) + token.substr(22);
  EXPECT_EQ(verify_ack_token(spliced, kSecret, kNow).error, AckTokenError::bad_signature);
}

TEST(AckLink, MalformedTokens) {
  std::string token = sign_ack_token(kClaim, kSecret);
  for (const std::string& bad :
       {std::string(), std::string("garbage"), std::string(44, '='), token + "A", token + "AAAA",
        token.substr(0, 43), token.substr(0, 40), std::string(4096, 'A'),
        token.substr(0, 43) + "=", token.substr(0, 20) + "+" + token.substr(21),
        token.substr(0, 20) + "/" + token.substr(21), token.substr(0, 20) + " " + token.substr(21),
        token.substr(0, 20) + "\xC3\xA9" + token.substr(22), std::string(44, '\0'),
        "%2F" + token.substr(3)}) {
    AckVerify v = verify_ack_token(bad, kSecret, kNow);
    EXPECT_EQ(v.error, AckTokenError::malformed) << '"' << bad << '"';
    EXPECT_EQ(v.claim.delivery_id, 0);
  }
}

TEST(AckLink, UnknownVersionIsMalformed) {
  std::string token = sign_ack_token(kClaim, kSecret);
  // The first character carries the top 6 bits of the version byte (1 -> "A").
  ASSERT_EQ(token[0], 'A');
  token[0] = 'B';
  EXPECT_EQ(verify_ack_token(token, kSecret, kNow).error, AckTokenError::malformed);
}

}  // namespace
}  // namespace herald::acks
