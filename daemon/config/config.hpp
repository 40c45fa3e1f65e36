#pragma once
// heraldd's configuration: broker, store, HTTP listener, directory, channels.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/diagnostics.hpp"
#include "config/secret.hpp"
#include "core/channel.hpp"
#include "directory/directory.hpp"
#include "render/sms_render.hpp"

namespace herald {

class Gateway;

struct BrokerConfig {
  std::string host = "127.0.0.1";
  int port = 5672;
  std::string vhost = "/";
  std::string user = "guest";
  Secret password{"guest"};
  int prefetch = 32;
  int heartbeat_s = 30;
  int64_t connect_timeout_ms = 5000;
  int64_t reconnect_initial_ms = 500;
  int64_t reconnect_max_ms = 30000;
};

enum class Role { viewer, operator_ };

struct AdminToken {
  std::string name;
  Role role = Role::viewer;
  Secret token;
};

struct HttpConfig {
  std::string address = "127.0.0.1";
  int port = 8080;
  size_t body_limit = 1 << 20;
  int64_t read_timeout_ms = 10000;
  std::vector<AdminToken> admin_tokens;
};

struct StoreConfig {
  std::string backend = "sqlite";
  std::string path;  // resolved against the config file's folder
  int64_t busy_timeout_ms = 5000;
};

struct IntakeConfig {
  size_t max_directive_bytes = 1 << 20;
};

struct ChannelConfig {
  bool enabled = true;
  std::string gateway;        // name under `gateways:`; empty: deliveries wait, queued
  SmsTemplate sms_template;   // sms only
};

/// How the dispatcher sends and retries (docs/dispatch.md).
struct DispatchConfig {
  int64_t poll_interval_ms = 500;
  int64_t batch = 256;
  int max_attempts = 8;
  int64_t backoff_initial_ms = 2000;
  int64_t backoff_max_ms = 300000;
  int64_t resume_grace_ms = 30000;
  std::string public_url;  // base URL providers call back; default http://<http.listen>
};

struct Config {
  std::string file;
  BrokerConfig broker;
  StoreConfig store;
  HttpConfig http;
  IntakeConfig intake;
  std::string directory_file;
  std::shared_ptr<const Directory> directory;
  std::map<Channel, ChannelConfig> channels;
  DispatchConfig dispatch;
  std::map<std::string, std::shared_ptr<Gateway>> gateways;

  bool channel_enabled(Channel c) const {
    auto it = channels.find(c);
    return it != channels.end() && it->second.enabled;
  }
};

struct ConfigLoad {
  std::optional<Config> config;
  std::vector<ConfigError> errors;  // from the config file and the directory it names
};

/// Reads and validates the whole configuration, collecting every error.
ConfigLoad load_config(const std::string& path);

/// Reads just a directory file (heraldctl directory check, reloads).
std::optional<Directory> load_directory(const std::string& path, std::vector<ConfigError>& errors);

}  // namespace herald
