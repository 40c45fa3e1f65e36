#pragma once
// heraldd's configuration: broker, store, HTTP listener, directory, channels.
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "settings/diagnostics.hpp"
#include "settings/secret.hpp"
#include "core/channel.hpp"
#include "directory/directory.hpp"
#include "render/announcement.hpp"
#include "render/sms_render.hpp"

namespace YAML { class Node; }

namespace herald {


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
  int max_connections = 1024;  // open HTTP connections, at most; see connection_cap()
  int64_t idle_timeout_ms = 5000;  // a keep-alive connection waiting for its next request
  int downloads_per_address = 8;   // audio files one client address may be fetching at once
  std::vector<AdminToken> admin_tokens;
};

struct StoreConfig {
  std::string backend = "sqlite";  // sqlite | postgres
  std::string path;  // sqlite: resolved against the config file's folder
  int64_t busy_timeout_ms = 5000;
  // postgres: several heraldd share the store (docs/scale-out.md).
  Secret conninfo;         // libpq connection string (it may hold a password)
  std::string instance;    // unique per instance; default: the host name
  int64_t lease_ms = 15000;  // claims of an instance silent this long are taken over
};

struct IntakeConfig {
  size_t max_directive_bytes = 1 << 20;
};

struct ChannelConfig {
  bool enabled = true;
  std::string gateway;        // name under `gateways:`; empty: deliveries wait, queued
  SmsTemplate sms_template;   // sms only
  LoudspeakerSettings loudspeaker;  // loudspeaker only
};

/// Reminders and escalation for one urgency (docs/acks.md).
struct AckPolicy {
  std::vector<int64_t> remind_before_ms{2LL * 3'600'000};  // reminders this long before the deadline
  int64_t escalate_after_ms = 0;                           // escalation this long after it
  bool escalate_to_superior = true;   // a notice to the person the directory names as superior
  bool escalate_next_channel = false; // the directive again on the recipient's next channel
};

struct AcksConfig {
  int64_t link_ttl_ms = 7LL * 86'400'000;  // ack links stay valid this long after the deadline
  std::array<AckPolicy, 4> policy;          // by urgency: normal, khan, thuong_khan, hoa_toc
  int64_t check_interval_ms = 1000;         // how often deadlines are looked at
};

/// The CAP 1.2 feed under /feeds/ (docs/loudspeaker.md).
struct CapFeedConfig {
  bool enabled = true;
  std::string sender = "herald@localhost";  // CAP <sender>: the issuing office's address
  std::string category = "Other";           // CAP <category> for every alert
  int64_t window_ms = 30LL * 86'400'000;    // alerts received this recently are listed
  int utc_offset_minutes = 7 * 60;          // CAP times carry an explicit offset
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

/// A gateway as the configuration describes it: checked when the configuration is loaded
/// (through the GatewayCatalog), built into a live gateway when heraldd starts
/// (adapters/registry.hpp, make_gateways). A Config never holds a live gateway, whose
/// credentials change as it runs.
struct GatewaySpec {
  std::string type;
  Channel channel = Channel::sms;
  std::shared_ptr<const YAML::Node> node;  // the YAML under gateways.<name>
};

/// What the loader needs to know of gateway types: implemented by the adapters' registry
/// (adapters/registry.hpp, gateway_catalog()), so that reading configuration needs no
/// adapter code.
class GatewayCatalog {
 public:
  virtual ~GatewayCatalog() = default;
  /// Checks gateway `name`'s YAML, reporting every problem to `diag`: its spec when valid.
  virtual std::optional<GatewaySpec> check(const std::string& name, const YAML::Node& node,
                                           Diagnostics& diag) const = 0;
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
  CapFeedConfig cap;
  AcksConfig acks;
  std::map<std::string, GatewaySpec> gateways;

  const LoudspeakerSettings& loudspeaker() const;

  bool channel_enabled(Channel c) const {
    auto it = channels.find(c);
    return it != channels.end() && it->second.enabled;
  }
};

struct ConfigLoad {
  std::optional<Config> config;
  std::vector<ConfigError> errors;  // from the config file and the directory it names
};

/// Reads and validates the whole configuration, collecting every error; `gateways` checks
/// the gateways' own settings.
ConfigLoad load_config(const std::string& path, const GatewayCatalog& gateways);
/// The same for configuration already in memory (the fuzzer, tests): `path` is the name
/// errors carry and the file relative paths (the directory, the store) are resolved from.
ConfigLoad load_config_text(const std::string& text, const std::string& path, const GatewayCatalog& gateways);

/// Reads just a directory file (heraldctl directory check, reloads).
std::optional<Directory> load_directory(const std::string& path, std::vector<ConfigError>& errors);

}  // namespace herald
