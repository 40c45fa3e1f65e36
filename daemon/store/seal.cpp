#include "store/seal.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <openssl/evp.h>
#include <openssl/rand.h>

namespace herald {

namespace {

constexpr size_t kNonce = 12, kTag = 16;

std::string base64(const unsigned char* data, size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  return out;
}

std::optional<std::vector<unsigned char>> unbase64(std::string_view s) {
  if (s.empty() || s.size() % 4 != 0) return std::nullopt;
  std::vector<unsigned char> out(3 * s.size() / 4 + 1);
  const int len = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  if (len < 0) return std::nullopt;
  size_t n = static_cast<size_t>(len);
  for (size_t i = s.size(); i > 0 && s[i - 1] == '='; --i) --n;  // EVP_DecodeBlock counts the padding
  out.resize(n);
  return out;
}

struct Ctx {
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  ~Ctx() { EVP_CIPHER_CTX_free(c); }
};

}  // namespace

SecretSeal::SecretSeal(std::string key) : key_(std::move(key)) {
  if (key_.size() != 32) throw std::invalid_argument("the store key must be 32 bytes");
}

std::optional<SecretSeal> SecretSeal::from_file(const std::string& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) {
    error = path + ": cannot be read";
    return std::nullopt;
  }
  std::string hex = text.str();
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r')) hex.pop_back();
  if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
    error = path + ": the store key must be 64 hexadecimal digits (openssl rand -hex 32)";
    return std::nullopt;
  }
  std::string key;
  for (size_t i = 0; i < 64; i += 2) key += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return SecretSeal(std::move(key));
}

std::string SecretSeal::seal(std::string_view plaintext, std::string_view place) const {
  std::vector<unsigned char> out(kNonce + plaintext.size() + kTag);
  if (RAND_bytes(out.data(), kNonce) != 1) throw std::runtime_error("no random bytes for a nonce");
  Ctx ctx;
  int len = 0;
  const auto* key = reinterpret_cast<const unsigned char*>(key_.data());
  if (EVP_EncryptInit_ex(ctx.c, EVP_aes_256_gcm(), nullptr, key, out.data()) != 1 ||
      EVP_EncryptUpdate(ctx.c, nullptr, &len, reinterpret_cast<const unsigned char*>(place.data()),
                        static_cast<int>(place.size())) != 1 ||
      EVP_EncryptUpdate(ctx.c, out.data() + kNonce, &len, reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.c, out.data() + kNonce + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.c, EVP_CTRL_GCM_GET_TAG, kTag, out.data() + kNonce + plaintext.size()) != 1)
    throw std::runtime_error("AES-256-GCM failed");
  return std::string(kPrefix) + base64(out.data(), out.size());
}

std::optional<std::string> SecretSeal::open(std::string_view sealed, std::string_view place) const {
  if (!is_sealed(sealed)) return std::nullopt;
  auto raw = unbase64(sealed.substr(kPrefix.size()));
  if (!raw || raw->size() < kNonce + kTag) return std::nullopt;
  const size_t n = raw->size() - kNonce - kTag;
  std::string out(n, '\0');
  Ctx ctx;
  int len = 0;
  const auto* key = reinterpret_cast<const unsigned char*>(key_.data());
  if (EVP_DecryptInit_ex(ctx.c, EVP_aes_256_gcm(), nullptr, key, raw->data()) != 1 ||
      EVP_DecryptUpdate(ctx.c, nullptr, &len, reinterpret_cast<const unsigned char*>(place.data()),
                        static_cast<int>(place.size())) != 1 ||
      EVP_DecryptUpdate(ctx.c, reinterpret_cast<unsigned char*>(out.data()), &len, raw->data() + kNonce,
                        static_cast<int>(n)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.c, EVP_CTRL_GCM_SET_TAG, kTag, raw->data() + kNonce + n) != 1)
    return std::nullopt;
  if (EVP_DecryptFinal_ex(ctx.c, reinterpret_cast<unsigned char*>(out.data()) + len, &len) != 1) return std::nullopt;
  return out;
}

}  // namespace herald
