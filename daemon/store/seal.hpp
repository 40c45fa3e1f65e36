#pragma once
// Secrets the store keeps for heraldd itself (the ack links' signing secret, the gateways'
// rotating credentials such as Zalo's access and refresh tokens), sealed with a key the
// store never holds: AES-256-GCM, a fresh 96-bit nonce per value, and the value's place
// ("<gateway>.<key>") as associated data, so a sealed value cannot be moved to another
// key. The key comes from systemd's credentials (`$CREDENTIALS_DIRECTORY/store-key`, see
// docs/operations.md): a copy of the store, or a backup of it, gives no working secret.
#include <optional>
#include <string>
#include <string_view>

namespace herald {

class SecretSeal {
 public:
  /// `key`: 32 bytes.
  explicit SecretSeal(std::string key);

  /// Reads the key from `path`: 64 hexadecimal digits (`openssl rand -hex 32`), a trailing
  /// newline allowed. nullopt and `error` set for anything else, or an unreadable file.
  static std::optional<SecretSeal> from_file(const std::string& path, std::string& error);

  /// "sealed:v1:" + base64(nonce, ciphertext, tag).
  std::string seal(std::string_view plaintext, std::string_view place) const;
  /// The plaintext of a sealed value; nullopt when it does not open with this key and
  /// place (another key, tampered, moved).
  std::optional<std::string> open(std::string_view sealed, std::string_view place) const;

  static bool is_sealed(std::string_view value) { return value.substr(0, kPrefix.size()) == kPrefix; }
  static constexpr std::string_view kPrefix = "sealed:v1:";

 private:
  std::string key_;
};

}  // namespace herald
