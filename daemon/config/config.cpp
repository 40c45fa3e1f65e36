#include "config/config.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include <boost/asio/ip/address.hpp>
#include <yaml-cpp/yaml.h>

#include "settings/yaml_reader.hpp"
#include "core/time.hpp"

namespace herald {

namespace {

std::string resolve_relative(const std::string& base_file, const std::string& p) {
  if (p.empty() || p[0] == '/') return p;
  return (std::filesystem::path(base_file).parent_path() / p).lexically_normal().string();
}

void read_broker(MapReader& r, BrokerConfig& b) {
  if (auto v = r.string("host")) b.host = *v;
  if (auto v = r.integer("port", 1, 65535)) b.port = static_cast<int>(*v);
  if (auto v = r.string("vhost")) b.vhost = *v;
  if (auto v = r.string("user")) b.user = *v;
  if (auto v = r.secret("password")) b.password = *v;
  if (auto v = r.integer("prefetch", 1, 65535)) b.prefetch = static_cast<int>(*v);
  if (auto v = r.positive_duration_ms("heartbeat")) {
    if (*v < 1000 || *v > 600000)
      r.diag().error(r.child("heartbeat").Mark(), "broker.heartbeat must be between 1s and 10m");
    else
      b.heartbeat_s = static_cast<int>(*v / 1000);
  }
  if (auto v = r.positive_duration_ms("connect_timeout")) b.connect_timeout_ms = *v;
  if (auto v = r.positive_duration_ms("reconnect_initial")) b.reconnect_initial_ms = *v;
  if (auto v = r.positive_duration_ms("reconnect_max")) b.reconnect_max_ms = *v;
  if (b.reconnect_initial_ms <= 0 || b.reconnect_max_ms < b.reconnect_initial_ms)
    r.diag().error(r.node().Mark(), "broker: reconnect_max must be >= reconnect_initial > 0");
  r.finish();
}

void read_http(MapReader& r, HttpConfig& h) {
  if (auto v = r.string("listen")) {
    auto colon = v->rfind(':');
    int port = 0;
    bool ok = colon != std::string::npos && colon > 0;
    if (ok) {
      try {
        size_t used = 0;
        port = std::stoi(v->substr(colon + 1), &used);
        ok = used == v->size() - colon - 1 && port > 0 && port < 65536;
      } catch (...) {
        ok = false;
      }
    }
    if (!ok) {
      r.diag().error(r.child("listen").Mark(), "http.listen must be ADDRESS:PORT, e.g. 127.0.0.1:8080");
    } else {
      h.address = v->substr(0, colon);
      if (h.address.size() > 2 && h.address.front() == '[' && h.address.back() == ']')
        h.address = h.address.substr(1, h.address.size() - 2);
      h.port = port;
      boost::system::error_code ec;
      boost::asio::ip::make_address(h.address, ec);
      if (ec)
        r.diag().error(r.child("listen").Mark(),
                       "http.listen needs an IP address, not a host name (\"" + h.address + "\")");
    }
  }
  if (auto v = r.integer("body_limit", 1024, 64 << 20)) h.body_limit = static_cast<size_t>(*v);
  if (auto v = r.positive_duration_ms("read_timeout")) h.read_timeout_ms = *v;
  if (auto v = r.integer("max_connections", 1, 100'000)) h.max_connections = static_cast<int>(*v);
  if (auto v = r.positive_duration_ms("idle_timeout")) h.idle_timeout_ms = *v;
  if (auto v = r.integer("downloads_per_address", 1, 100000)) h.downloads_per_address = static_cast<int>(*v);
  YAML::Node tokens = r.child("admin_tokens");
  if (tokens.IsDefined()) {
    if (!tokens.IsSequence()) {
      r.diag().error(tokens.Mark(), "http.admin_tokens must be a list");
    } else {
      for (size_t i = 0; i < tokens.size(); ++i) {
        MapReader t(tokens[i], r.diag(), "http.admin_tokens[" + std::to_string(i) + "]");
        if (!t.is_map()) continue;
        AdminToken tok;
        tok.name = t.string("name", true).value_or("");
        if (auto role = t.string("role", true)) {
          if (*role == "viewer") tok.role = Role::viewer;
          else if (*role == "operator") tok.role = Role::operator_;
          else t.diag().error(t.child("role").Mark(), "role must be viewer or operator");
        }
        if (auto s = t.secret("token", true)) {
          if (s->reveal().size() < 16)
            t.diag().error(t.child("token").Mark(), "admin token must be at least 16 characters");
          tok.token = *s;
        }
        t.finish();
        h.admin_tokens.push_back(std::move(tok));
      }
    }
  }
  r.finish();
}

void read_store(MapReader& r, StoreConfig& s, const std::string& file) {
  if (auto v = r.string("backend")) {
    if (*v != "sqlite" && *v != "postgres")
      r.diag().error(r.child("backend").Mark(), "store.backend must be sqlite or postgres");
    else s.backend = *v;
  }
  const bool pg = s.backend == "postgres";
  if (auto v = r.string("path", !pg)) s.path = resolve_relative(file, *v);
  if (auto v = r.duration_ms("busy_timeout")) s.busy_timeout_ms = *v;
  if (auto v = r.secret("conninfo", pg)) s.conninfo = *v;
  if (auto v = r.string("instance")) {
    if (v->empty() || v->size() > 100)
      r.diag().error(r.mark("instance"), "store.instance must be 1 to 100 characters");
    else s.instance = *v;
  }
  if (auto v = r.duration_ms("lease")) {
    if (*v < 1000) r.diag().error(r.mark("lease"), "store.lease must be at least 1s");
    else s.lease_ms = *v;
  }
  if (!pg)
    for (const char* key : {"conninfo", "instance", "lease"})
      if (r.child(key).IsDefined())
        r.diag().error(r.mark(key), std::string("store.") + key + " applies to store.backend postgres only");
  if (pg)
    for (const char* key : {"path", "busy_timeout"})
      if (r.child(key).IsDefined())
        r.diag().error(r.mark(key), std::string("store.") + key + " applies to store.backend sqlite only");
  if (pg && s.instance.empty()) {
    char host[256] = {};
    s.instance = ::gethostname(host, sizeof host - 1) == 0 && host[0] ? host : "heraldd";
  }
  r.finish();
}

void read_loudspeaker(MapReader& r, LoudspeakerSettings& s, const std::string& file) {
  if (auto v = r.string("confidential")) {
    if (*v == "notice") s.confidential = LoudspeakerSettings::Confidential::notice;
    else if (*v == "skip") s.confidential = LoudspeakerSettings::Confidential::skip;
    else r.diag().error(r.mark("confidential"), "channels.loudspeaker.confidential must be notice or skip");
  }
  if (auto v = r.string("confidential_notice")) {
    if (v->empty()) r.diag().error(r.mark("confidential_notice"), "channels.loudspeaker.confidential_notice is empty");
    else s.confidential_notice = *v;
  }
  if (auto v = r.string("voice")) {
    if (*v != "northern" && *v != "central" && *v != "southern")
      r.diag().error(r.mark("voice"), "channels.loudspeaker.voice must be northern, central or southern");
    else s.default_voice = *v;
  }
  if (YAML::Node a = r.child("audio"); a.IsDefined()) {
    MapReader ar(a, r.diag(), "channels.loudspeaker.audio", r.mark("audio"));
    if (ar.is_map()) {
      if (auto v = ar.string("dir")) s.audio_dir = resolve_relative(file, *v);
      if (auto v = ar.integer("words_per_minute", 80, 450)) s.words_per_minute = static_cast<int>(*v);
      if (auto v = ar.integer("bitrate_kbps", 16, 320)) s.bitrate_kbps = static_cast<int>(*v);
      ar.finish();
    }
  }
}

void read_feeds(MapReader& r, CapFeedConfig& cap) {
  if (YAML::Node n = r.child("cap"); n.IsDefined()) {
    MapReader cr(n, r.diag(), "feeds.cap", r.mark("cap"));
    if (cr.is_map()) {
      if (auto v = cr.boolean("enabled")) cap.enabled = *v;
      if (auto v = cr.string("sender")) {
        // CAP: no spaces, commas or restricted characters (< and &).
        if (v->empty() || v->find_first_of(" ,<&") != std::string::npos)
          r.diag().error(cr.mark("sender"), "feeds.cap.sender must be an address without spaces, commas, < or &");
        else cap.sender = *v;
      }
      static const char* const kCategories[] = {"Geo", "Met", "Safety", "Security", "Rescue", "Fire",
                                                "Health", "Env", "Transport", "Infra", "CBRNE", "Other"};
      if (auto v = cr.string("category")) {
        if (std::find_if(std::begin(kCategories), std::end(kCategories),
                         [&](const char* k) { return *v == k; }) == std::end(kCategories))
          r.diag().error(cr.mark("category"), "feeds.cap.category must be a CAP 1.2 category (Geo, Met, Safety, "
                                              "Security, Rescue, Fire, Health, Env, Transport, Infra, CBRNE, Other)");
        else cap.category = *v;
      }
      if (auto v = cr.positive_duration_ms("window")) cap.window_ms = *v;
      if (auto v = cr.string("utc_offset")) {
        if (auto off = parse_utc_offset(*v)) cap.utc_offset_minutes = *off;
        else r.diag().error(cr.mark("utc_offset"), "feeds.cap.utc_offset must look like +07:00");
      }
      cr.finish();
    }
  }
  r.finish();
}

void read_ack_policy(MapReader& r, AckPolicy& p) {
  if (YAML::Node n = r.child("remind_before"); n.IsDefined()) {
    p.remind_before_ms.clear();
    if (!n.IsSequence()) {
      r.diag().error(r.mark("remind_before"), r.what() + ".remind_before must be a list of durations");
    } else {
      for (const auto& item : n) {
        auto ms = item.IsScalar() ? parse_duration_ms(item.Scalar()) : std::nullopt;
        if (!ms || *ms <= 0) r.diag().error(item.Mark(), r.what() + ".remind_before: \"" +
                                                           (item.IsScalar() ? item.Scalar() : "") +
                                                           "\" is not a positive duration");
        else p.remind_before_ms.push_back(*ms);
      }
    }
  }
  if (auto v = r.duration_ms("escalate_after")) p.escalate_after_ms = *v;
  if (auto list = r.string_list("escalate_to")) {
    p.escalate_to_superior = p.escalate_next_channel = false;
    for (const auto& t : *list) {
      if (t == "superior") p.escalate_to_superior = true;
      else if (t == "next_channel") p.escalate_next_channel = true;
      else r.diag().error(r.mark("escalate_to"), r.what() + ".escalate_to: \"" + t + "\" (superior, next_channel)");
    }
  }
  r.finish();
}

void read_acks(MapReader& r, AcksConfig& a) {
  if (auto v = r.positive_duration_ms("link_ttl")) a.link_ttl_ms = *v;
  if (auto v = r.positive_duration_ms("check_interval")) a.check_interval_ms = std::max<int64_t>(*v, 50);
  if (YAML::Node n = r.child("follow_up"); n.IsDefined()) {
    MapReader fr(n, r.diag(), "acks.follow_up", r.mark("follow_up"));
    if (fr.is_map()) {
      static const char* const kKeys[] = {"normal", "khan", "thuong_khan", "hoa_toc"};
      // "default" first, so an urgency's own entry overrides it.
      if (YAML::Node dn = fr.child("default"); dn.IsDefined()) {
        MapReader dr(dn, r.diag(), "acks.follow_up.default", fr.mark("default"));
        AckPolicy p;
        if (dr.is_map()) read_ack_policy(dr, p);
        a.policy.fill(p);
      }
      for (size_t i = 0; i < 4; ++i)
        if (YAML::Node un = fr.child(kKeys[i]); un.IsDefined()) {
          MapReader ur(un, r.diag(), std::string("acks.follow_up.") + kKeys[i], fr.mark(kKeys[i]));
          if (ur.is_map()) read_ack_policy(ur, a.policy[i]);
        }
      fr.finish();
    }
  }
  r.finish();
}

void read_channels(MapReader& r, Config& c) {
  for (Channel ch : kAllChannels) {
    std::string name(to_string(ch));
    YAML::Node n = r.child(name);
    if (!n.IsDefined()) continue;
    MapReader cr(n, r.diag(), "channels." + name, r.mark(name));
    if (!cr.is_map()) continue;
    ChannelConfig cc;
    if (auto v = cr.boolean("enabled")) cc.enabled = *v;
    if (auto v = cr.string("gateway")) {
      auto it = c.gateways.find(*v);
      if (it == c.gateways.end())
        r.diag().error(cr.child("gateway").Mark(), "unknown gateway \"" + *v + "\"");
      else if (it->second.channel != ch)
        r.diag().error(cr.child("gateway").Mark(), "gateway \"" + *v + "\" does not send " + name);
      else
        cc.gateway = *v;
    }
    if (ch == Channel::sms) {
      if (YAML::Node t = cr.child("template"); t.IsDefined()) {
        MapReader tr(t, r.diag(), "channels.sms.template", cr.mark("template"));
        if (tr.is_map()) {
          if (auto v = tr.string("format")) cc.sms_template.format = *v;
          if (auto v = tr.string("confidential_format")) cc.sms_template.confidential_format = *v;
          if (auto v = tr.boolean("unaccented")) cc.sms_template.unaccented = *v;
          if (auto v = tr.integer("max_segments", 1, 10)) cc.sms_template.max_segments = static_cast<size_t>(*v);
          tr.finish();
        }
      }
    }
    if (ch == Channel::loudspeaker) read_loudspeaker(cr, cc.loudspeaker, c.file);
    cr.finish();
    c.channels[ch] = cc;
  }
  r.finish();
}

void read_dispatch(MapReader& r, DispatchConfig& d) {
  if (auto v = r.positive_duration_ms("poll_interval")) d.poll_interval_ms = std::max<int64_t>(*v, 10);
  if (auto v = r.integer("batch", 1, 100000)) d.batch = *v;
  if (auto v = r.integer("max_attempts", 1, 1000)) d.max_attempts = static_cast<int>(*v);
  if (auto v = r.duration_ms("backoff_initial")) d.backoff_initial_ms = *v;
  if (auto v = r.duration_ms("backoff_max")) d.backoff_max_ms = *v;
  if (auto v = r.duration_ms("resume_grace")) d.resume_grace_ms = *v;
  if (auto v = r.string("public_url")) {
    if (v->rfind("http://", 0) != 0 && v->rfind("https://", 0) != 0)
      r.diag().error(r.child("public_url").Mark(), "dispatch.public_url must be an http(s) URL");
    d.public_url = *v;
    while (!d.public_url.empty() && d.public_url.back() == '/') d.public_url.pop_back();
  }
  if (d.backoff_max_ms < d.backoff_initial_ms)
    r.diag().error(r.node().Mark(), "dispatch.backoff_max must be >= backoff_initial");
  r.finish();
}

void read_gateways(MapReader& r, Config& c, const GatewayCatalog& catalog) {
  for (const auto& kv : r.node()) {
    if (!kv.first.IsScalar()) continue;
    const std::string& name = kv.first.Scalar();
    r.child(name);  // known
    if (auto spec = catalog.check(name, kv.second, r.diag())) c.gateways[name] = std::move(*spec);
  }
}

}  // namespace

std::optional<Directory> load_directory(const std::string& path, std::vector<ConfigError>& errors) {
  Diagnostics d(path);
  std::optional<Directory> dir;
  if (auto root = load_yaml_file(path, d)) dir = Directory::from_yaml(*root, d);
  errors.insert(errors.end(), d.errors().begin(), d.errors().end());
  if (!d.ok()) return std::nullopt;
  return dir;
}

const LoudspeakerSettings& Config::loudspeaker() const {
  static const LoudspeakerSettings kDefaults;
  auto it = channels.find(Channel::loudspeaker);
  return it == channels.end() ? kDefaults : it->second.loudspeaker;
}

namespace {

// The rest of load_config once the YAML is read: `path` names the file in errors and is
// the folder relative paths are resolved against.
ConfigLoad read_config(const std::optional<YAML::Node>& root, Diagnostics& d, const std::string& path,
                       const GatewayCatalog& catalog) {
  ConfigLoad out;
  if (!root) {
    out.errors = d.errors();
    return out;
  }
  Config c;
  c.file = path;
  MapReader top(*root, d, "config");
  if (top.is_map()) {
    if (YAML::Node n = top.child("broker", true); n.IsDefined()) {
      MapReader r(n, d, "broker", top.mark("broker"));
      if (r.is_map()) read_broker(r, c.broker);
    }
    if (YAML::Node n = top.child("store", true); n.IsDefined()) {
      MapReader r(n, d, "store", top.mark("store"));
      if (r.is_map()) read_store(r, c.store, path);
    }
    if (YAML::Node n = top.child("http"); n.IsDefined()) {
      MapReader r(n, d, "http", top.mark("http"));
      if (r.is_map()) read_http(r, c.http);
    }
    if (YAML::Node n = top.child("intake"); n.IsDefined()) {
      MapReader r(n, d, "intake", top.mark("intake"));
      if (r.is_map()) {
        if (auto v = r.integer("max_directive_bytes", 1024, 64 << 20))
          c.intake.max_directive_bytes = static_cast<size_t>(*v);
        r.finish();
      }
    }
    if (YAML::Node n = top.child("dispatch"); n.IsDefined()) {
      MapReader r(n, d, "dispatch", top.mark("dispatch"));
      if (r.is_map()) read_dispatch(r, c.dispatch);
    }
    if (c.dispatch.public_url.empty()) {
      std::string host = c.http.address == "0.0.0.0" || c.http.address == "::" ? "127.0.0.1" : c.http.address;
      if (host.find(':') != std::string::npos) host = "[" + host + "]";
      c.dispatch.public_url = "http://" + host + ":" + std::to_string(c.http.port);
    }
    if (YAML::Node n = top.child("acks"); n.IsDefined()) {
      MapReader r(n, d, "acks", top.mark("acks"));
      if (r.is_map()) read_acks(r, c.acks);
    }
    if (YAML::Node n = top.child("feeds"); n.IsDefined()) {
      MapReader r(n, d, "feeds", top.mark("feeds"));
      if (r.is_map()) read_feeds(r, c.cap);
    }
    if (YAML::Node n = top.child("gateways"); n.IsDefined()) {
      MapReader r(n, d, "gateways", top.mark("gateways"));
      if (r.is_map()) read_gateways(r, c, catalog);
    }
    if (YAML::Node n = top.child("channels", true); n.IsDefined()) {
      MapReader r(n, d, "channels", top.mark("channels"));
      if (r.is_map()) read_channels(r, c);
    }
    {
      // Spoken audio is kept next to the store unless config says where.
      auto it = c.channels.find(Channel::loudspeaker);
      if (it != c.channels.end() && it->second.loudspeaker.audio_dir.empty()) {
        if (!c.store.path.empty())
          it->second.loudspeaker.audio_dir = (std::filesystem::path(c.store.path).parent_path() / "audio").string();
        else if (it->second.enabled)
          d.error(top.mark("channels"),
                  "channels.loudspeaker.audio.dir is required with store.backend postgres (there is no store "
                  "folder to keep the audio beside)");
      }
    }
    // The directory: a file next to the config (usual), or inline under `directory:`.
    YAML::Node dn = top.child("directory", true);
    std::vector<ConfigError> dir_errors;
    if (dn.IsDefined()) {
      if (dn.IsNull()) {
        d.error(top.mark("directory"), "directory must be a file name or a map, found null");
      } else if (dn.IsScalar()) {
        c.directory_file = resolve_relative(path, dn.Scalar());
        if (auto dir = load_directory(c.directory_file, dir_errors))
          c.directory = std::make_shared<Directory>(std::move(*dir));
      } else {
        if (auto dir = Directory::from_yaml(dn, d)) c.directory = std::make_shared<Directory>(std::move(*dir));
      }
    }
    top.finish();
    out.errors = d.errors();
    out.errors.insert(out.errors.end(), dir_errors.begin(), dir_errors.end());
  } else {
    out.errors = d.errors();
  }
  if (out.errors.empty() && c.directory) out.config = std::move(c);
  return out;
}

}  // namespace

ConfigLoad load_config(const std::string& path, const GatewayCatalog& gateways) {
  Diagnostics d(path);
  return read_config(load_yaml_file(path, d), d, path, gateways);
}

ConfigLoad load_config_text(const std::string& text, const std::string& path, const GatewayCatalog& gateways) {
  Diagnostics d(path);
  return read_config(load_yaml_string(text, d), d, path, gateways);
}

}  // namespace herald
