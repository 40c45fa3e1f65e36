#pragma once
// Comparing secrets: receipt tokens, admin tokens, signatures. The time taken depends on
// the lengths only, never on where the first difference is (OpenSSL's CRYPTO_memcmp, which
// the compiler cannot turn into an early exit).
#include <openssl/crypto.h>

#include <string_view>

namespace herald {

inline bool constant_time_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace herald
