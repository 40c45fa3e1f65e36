// heraldctl: the operator's command line. Publishes directives to the broker (with
// publisher confirms) and reads progress from heraldd's admin API; the commands are in
// their own files (commands.hpp).
#include <curl/curl.h>

#include <cstdlib>
#include <fstream>
#include <iostream>

#include "adapters/registry.hpp"
#include "commands.hpp"
#include "config/config.hpp"
#include "intake/amqp.hpp"

using namespace herald;

namespace {

using ctl::kFailed;
using ctl::kOk;
using ctl::kUsage;

const char* kUsageText = R"(usage: heraldctl [OPTIONS] COMMAND [ARGS]

Commands:
  publish FILE            publish a herald.directive/v1 JSON or YAML file ("-" for stdin)
                          to the herald.directives exchange and wait for the broker's
                          confirm; the file is validated first (--force publishes it anyway)
  publish --from-text FILE [--yes] [--urgency U] [--confidentiality C] [--ack-deadline T]
                          read an official document (công văn) in its usual layout, show
                          what was understood and which Kính gửi / Nơi nhận lines match no
                          group of the directory (--config or --directory), and publish it
                          only with --yes or when confirmed
  status [ID]             all directives, or one directive's deliveries by channel and state
  deliveries ID [--state S] [--channel C] [--recipient R] [--since T] [--until T]
                          one directive's deliveries, with the last error of each
  acks ID [--missing]     who acknowledged the directive, when and how; who has not
                          (--missing: only those)
  replay ID [--state failed,expired] [--channel C] [--recipient R] [--dry-run] [--reason TEXT]
                          send failed and/or expired deliveries again, to the directory's
                          current contacts (operator token); --dry-run shows what would go
  cancel ID [--reason TEXT]
                          cancel a directive: what has not been sent is held back
  export ID --csv         every delivery of a directive, with acknowledgements, as CSV
  directory check FILE    validate a directory file (no daemon needed)
  directory reload        make heraldd read its directory file again (as SIGHUP does)

Options:
  --config FILE           take broker, API address and admin token from heraldd's config
  --broker URL            amqp://user:pass@host:port/vhost  (env HERALD_BROKER)
  --api URL               heraldd's HTTP listener, e.g. http://127.0.0.1:8080 (env HERALD_API)
  --token-file FILE       read the admin API bearer token from FILE (or set HERALD_TOKEN)
  --token TOKEN           the token itself; anyone on the machine sees it in ps, so
                          prefer --token-file or HERALD_TOKEN
  --json                  print JSON instead of a table
  --force                 publish even if the directive fails validation
  --help, --version
Exit status: 0 ok, 1 the operation failed, 2 usage error.
)";

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

bool parse_broker_url(const std::string& url, BrokerConfig& b, std::string& error) {
  std::string buf = url;
  amqp_connection_info info;
  amqp_default_connection_info(&info);
  if (amqp_parse_url(buf.data(), &info) != AMQP_STATUS_OK) {
    error = "bad broker URL (expected amqp://user:pass@host:port/vhost)";
    return false;
  }
  b.host = info.host;
  b.port = info.port;
  b.user = info.user;
  b.password = Secret(info.password);
  b.vhost = info.vhost;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace herald::ctl;
  Options o;
  std::string config_path = env_or("HERALD_CONFIG", "");
  std::string broker_url = env_or("HERALD_BROKER", "");
  std::string api = env_or("HERALD_API", "");
  o.token = env_or("HERALD_TOKEN", "");
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    bool ok = true;
    if (a == "--config") ok = value(config_path);
    else if (a == "--broker") ok = value(broker_url);
    else if (a == "--api") ok = value(api);
    else if (a == "--token") {
      ok = value(o.token);
      if (ok) std::cerr << "heraldctl: --token shows the token to anyone running ps; use --token-file or HERALD_TOKEN\n";
    } else if (a == "--token-file") {
      std::string path;
      ok = value(path);
      if (ok) {
        std::ifstream in(path);
        std::string token;
        if (!in || !std::getline(in, token) || token.empty()) {
          std::cerr << "heraldctl: cannot read a token from " << path << "\n";
          return kUsage;
        }
        while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
        o.token = token;
      }
    }
    else if (a == "--state") ok = value(o.state_filter);
    else if (a == "--channel") ok = value(o.channel_filter);
    else if (a == "--json") o.json = true;
    else if (a == "--force") o.force = true;
    else if (a == "--missing") o.missing = true;
    else if (a == "--dry-run") o.dry_run = true;
    else if (a == "--csv") o.csv = true;
    else if (a == "--reason") ok = value(o.reason);
    else if (a == "--recipient") ok = value(o.recipient_filter);
    else if (a == "--from-text") o.from_text = true;
    else if (a == "--yes" || a == "-y") o.yes = true;
    else if (a == "--directory") ok = value(o.directory_file);
    else if (a == "--urgency") ok = value(o.urgency);
    else if (a == "--confidentiality") ok = value(o.confidentiality);
    else if (a == "--ack-deadline") ok = value(o.ack_deadline);
    else if (a == "--since") ok = value(o.since);
    else if (a == "--until") ok = value(o.until);
    else if (a == "-h" || a == "--help") { std::cout << kUsageText; return kOk; }
    else if (a == "--version") { std::cout << "heraldctl " << HERALD_VERSION << "\n"; return kOk; }
    else if (a.size() > 1 && a[0] == '-' && a != "-") { std::cerr << "heraldctl: unknown option " << a << "\n" << kUsageText; return kUsage; }
    else o.args.push_back(a);
    if (!ok) {
      std::cerr << "heraldctl: " << a << " needs a value\n";
      return kUsage;
    }
  }
  if (o.args.empty()) {
    std::cerr << kUsageText;
    return kUsage;
  }
  if (!config_path.empty()) {
    ConfigLoad load = load_config(config_path, gateway_catalog());
    if (!load.config) {
      for (const auto& e : load.errors) std::cerr << e.str() << "\n";
      return kFailed;
    }
    o.broker = load.config->broker;
    o.directory = load.config->directory;
    const auto& http = load.config->http;
    std::string host = http.address == "0.0.0.0" || http.address == "::" ? "127.0.0.1" : http.address;
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    o.api = "http://" + host + ":" + std::to_string(http.port);
    if (o.token.empty() && !http.admin_tokens.empty()) o.token = http.admin_tokens.front().token.reveal();
  }
  if (!broker_url.empty()) {
    std::string err;
    if (!parse_broker_url(broker_url, o.broker, err)) {
      std::cerr << "heraldctl: " << err << "\n";
      return kUsage;
    }
  }
  if (!api.empty()) o.api = api;
  while (!o.api.empty() && o.api.back() == '/') o.api.pop_back();

  curl_global_init(CURL_GLOBAL_DEFAULT);
  const std::string& cmd = o.args[0];
  int rc;
  if (cmd == "publish") rc = publish(o);
  else if (cmd == "status") rc = status(o);
  else if (cmd == "deliveries") rc = deliveries(o);
  else if (cmd == "acks") rc = acks(o);
  else if (cmd == "replay") rc = replay(o);
  else if (cmd == "cancel") rc = cancel(o);
  else if (cmd == "export") rc = export_csv(o);
  else if (cmd == "directory") rc = directory(o);
  else {
    std::cerr << "heraldctl: unknown command " << cmd << "\n" << kUsageText;
    rc = kUsage;
  }
  curl_global_cleanup();
  return rc;
}
