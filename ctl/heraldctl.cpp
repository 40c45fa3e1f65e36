// heraldctl: the operator's command line. Publishes directives to the broker (with
// publisher confirms) and reads progress from heraldd's admin API.
#include <curl/curl.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <boost/json.hpp>
#include <boost/url.hpp>

#include <unistd.h>

#include <cstring>
#include <set>

#include <yaml-cpp/yaml.h>

#include "config/config.hpp"
#include "core/time.hpp"
#include "directive/directive.hpp"
#include "directive/document_text.hpp"
#include "text/vietnamese.hpp"
#include "intake/amqp.hpp"
#include "table.hpp"

namespace json = boost::json;
using namespace herald;

namespace {

constexpr int kOk = 0, kFailed = 1, kUsage = 2;

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
  --token TOKEN           admin API bearer token (env HERALD_TOKEN)
  --json                  print JSON instead of a table
  --force                 publish even if the directive fails validation
Exit status: 0 ok, 1 the operation failed, 2 usage error.
)";

struct Options {
  BrokerConfig broker;
  std::string api = "http://127.0.0.1:8080";
  std::string token;
  bool json = false;
  bool force = false;
  bool missing = false;
  bool dry_run = false;
  bool csv = false;
  std::string reason, recipient_filter;
  bool from_text = false;
  bool yes = false;
  std::string directory_file;  // for --from-text: the directory to match recipients in
  std::shared_ptr<const Directory> directory;  // from --config
  std::string urgency = "normal", confidentiality = "normal", ack_deadline, since, until;
  std::string state_filter, channel_filter;
  std::vector<std::string> args;
};

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

// ---- publish ---------------------------------------------------------------------------

// A YAML directive file: by its extension, or (stdin) by not starting like JSON.
bool looks_like_yaml(const std::string& file, const std::string& body) {
  auto ends = [&](const char* ext) {
    return file.size() > std::strlen(ext) && file.compare(file.size() - std::strlen(ext), std::string::npos, ext) == 0;
  };
  if (ends(".yaml") || ends(".yml")) return true;
  if (ends(".json")) return false;
  size_t first = body.find_first_not_of(" \t\r\n");
  return first != std::string::npos && body[first] != '{';
}

json::value yaml_value(const YAML::Node& n) {
  if (n.IsMap()) {
    json::object o;
    for (const auto& kv : n) o[kv.first.Scalar()] = yaml_value(kv.second);
    return o;
  }
  if (n.IsSequence()) {
    json::array a;
    for (const auto& item : n) a.push_back(yaml_value(item));
    return a;
  }
  if (n.IsNull()) return nullptr;
  const std::string& v = n.Scalar();
  if (n.Tag() == "!") return json::value(v);  // quoted: always a string
  if (v == "true" || v == "false") return v == "true";
  if (!v.empty() && v.find_first_not_of("-0123456789") == std::string::npos && v.size() < 19 &&
      v.find('-', 1) == std::string::npos) {
    try {
      return std::stoll(v);
    } catch (const std::exception&) {
    }
  }
  return json::value(v);
}

std::optional<std::string> yaml_to_json(const std::string& text, std::string& error) {
  try {
    YAML::Node root = YAML::Load(text);
    if (!root.IsMap()) {
      error = "a YAML directive must be a map";
      return std::nullopt;
    }
    return json::serialize(yaml_value(root));
  } catch (const YAML::Exception& e) {
    error = "not YAML: " + std::string(e.what());
    return std::nullopt;
  }
}

// "Huyện ủy Châu Thành" + "158-CV/HU" -> "HU-CHAUTHANH": the issuing unit's abbreviation
// (the number's last part) and the place, không dấu, as the seed's issuer code is written.
std::string issuer_code(const ParsedDocument& doc) {
  std::string unit = doc.number.substr(doc.number.rfind('/') == std::string::npos ? 0 : doc.number.rfind('/') + 1);
  if (size_t dash = unit.rfind('-'); dash != std::string::npos) unit = unit.substr(dash + 1);
  std::string place;
  for (char c : unaccent(doc.place.empty() ? doc.issuer_name : doc.place))
    if (std::isalnum(static_cast<unsigned char>(c))) place += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string u;
  for (char c : unaccent(unit))
    if (std::isalnum(static_cast<unsigned char>(c))) u += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return u.empty() ? place : u + "-" + place;
}

// Builds the directive from a document's text; prints what it understood. nullopt: failed;
// an empty string: shown but not to be published (no --yes, not confirmed).
std::optional<std::string> directive_from_text(const Options& o, const std::string& text, const std::string& file) {
  std::shared_ptr<const Directory> dir;
  std::vector<ConfigError> errors;
  if (!o.directory_file.empty()) {
    if (auto d = load_directory(o.directory_file, errors)) dir = std::make_shared<const Directory>(std::move(*d));
  } else if (o.directory) {
    dir = o.directory;
  }
  for (const auto& e : errors) std::cerr << e.str() << "\n";
  if (!dir) {
    std::cerr << "heraldctl publish --from-text: needs the directory (--config or --directory FILE)\n";
    return std::nullopt;
  }
  const ParsedDocument doc = parse_document_text(text);
  std::vector<std::pair<const DocumentLine*, const Group*>> lines;
  std::vector<std::string> unmatched;
  json::array recipients;
  std::set<std::string> groups;
  auto take = [&](const std::vector<DocumentLine>& list, bool copies) {
    for (const auto& l : list) {
      const std::string key = match_key(l.text);
      // "Như trên" repeats the Kính gửi list; "Lưu ..." is the office's own file copy.
      if (copies && (key == "nhu tren" || key.rfind("luu ", 0) == 0 || key == "luu")) continue;
      const Group* g = dir->match(l.text);
      lines.emplace_back(&l, g);
      if (!g) unmatched.push_back(file + ":" + std::to_string(l.line) + ": no group matches \"" + l.text + "\"");
      else if (groups.insert(g->id).second) recipients.push_back(json::object{{"group", g->id}});
    }
  };
  take(doc.addressees, false);
  take(doc.copies_to, true);
  std::vector<std::string> problems = doc.problems;
  if (doc.number.empty() || doc.issued_date.empty() || doc.subject.empty() || doc.issuer_name.empty())
    problems.push_back("the number, date, subject and issuer are all needed to publish");
  json::object d{{"schema", "herald.directive/v1"},
                 {"number", doc.number},
                 {"issuer", {{"code", issuer_code(doc)}, {"name", doc.issuer_name}}},
                 {"issued_at", doc.issued_date.empty() ? "" : doc.issued_date + "T00:00:00+07:00"},
                 {"subject", doc.subject},
                 {"body", doc.body},
                 {"urgency", o.urgency},
                 {"confidentiality", o.confidentiality},
                 {"recipients", recipients}};
  std::string id = issuer_code(doc);
  for (char& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  d["id"] = id + "/" + doc.number + "/" + doc.issued_date.substr(0, 4);
  if (!o.ack_deadline.empty()) d["ack"] = {{"required", true}, {"deadline", o.ack_deadline}};
  if (o.json) {
    json::array lines_json;
    for (const auto& [l, g] : lines)
      lines_json.push_back({{"line", l->line}, {"text", l->text}, {"group", g ? json::value(g->id) : json::value(nullptr)}});
    json::array probs;
    for (const auto& p : problems) probs.push_back(json::value(p));
    std::cerr << json::serialize(json::object{{"directive", d}, {"recipient_lines", lines_json},
                                              {"problems", probs}}) << "\n";
  } else {
    std::cerr << "Understood from " << file << ":\n"
              << "  number:     " << doc.number << "\n"
              << "  issuer:     " << doc.issuer_name << " (" << issuer_code(doc) << ")\n"
              << "  issued:     " << doc.issued_date << (doc.place.empty() ? "" : ", " + doc.place) << "\n"
              << "  subject:    " << doc.subject << "\n"
              << "  body:       " << doc.body.size() << " bytes\n"
              << "  signed by:  " << doc.signer_name << (doc.signer_title.empty() ? "" : " (" + doc.signer_title + ")")
              << "\n  recipients:\n";
    for (const auto& [l, g] : lines)
      std::cerr << "    line " << l->line << ": " << l->text << " -> "
                << (g ? "group " + g->id + " (" + std::to_string(dir->members(g->id).size()) + " people)" : "NOT MATCHED")
                << "\n";
  }
  for (const auto& u : unmatched) std::cerr << u << "\n";
  for (const auto& p : problems) std::cerr << file << ": " << p << "\n";
  if (!unmatched.empty() || !problems.empty()) {
    std::cerr << "not published: fix the lines above (or the directory's aliases) first\n";
    return std::nullopt;
  }
  if (!o.yes) {
    if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO)) {
      std::cerr << "not published: run again with --yes to publish it\n";
      return std::string();
    }
    std::cerr << "Publish " << d["id"].as_string() << " to " << recipients.size() << " groups? [y/N] ";
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "y" && answer != "Y" && answer != "yes" && answer != "có" && answer != "co") {
      std::cerr << "not published\n";
      return std::string();
    }
  }
  return json::serialize(d);
}

int publish(const Options& o) {
  if (o.args.size() != 2) {
    std::cerr << "heraldctl publish: expects one FILE\n";
    return kUsage;
  }
  const std::string& file = o.args[1];
  std::string body;
  if (file == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    body = ss.str();
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::cerr << "heraldctl: cannot read " << file << "\n";
      return kFailed;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    body = ss.str();
  }
  if (o.from_text) {
    auto built = directive_from_text(o, body, file);
    if (!built) return kFailed;
    if (built->empty()) return kOk;  // shown, not confirmed
    body = *built;
  } else if (looks_like_yaml(file, body)) {
    std::string error;
    auto converted = yaml_to_json(body, error);
    if (!converted) {
      std::cerr << "heraldctl: " << file << ": " << error << "\n";
      return kFailed;
    }
    body = *converted;
  }
  DirectiveParse parsed = parse_directive(body);
  if (!parsed.directive && !o.force) {
    std::cerr << "heraldctl: " << file << " is not a valid directive:\n";
    for (const auto& e : parsed.errors)
      std::cerr << "  " << (e.path.empty() ? "" : e.path + ": ") << e.message << "\n";
    std::cerr << "(--force publishes it anyway; heraldd will dead-letter it)\n";
    return kFailed;
  }
  amqp::Message m;
  m.body = body;
  m.message_id = parsed.id;
  m.routing_key = parsed.directive ? parsed.directive->issuer_code + "." +
                                         std::string(to_string(parsed.directive->urgency))
                                   : "unvalidated";
  try {
    amqp::Connection conn;
    conn.open(o.broker, "heraldctl");
    conn.declare_topology();
    conn.enable_confirms();
    auto r = conn.publish_confirmed(amqp::kExchange, m, 15000);
    if (r != amqp::PublishResult::confirmed) {
      const char* why = r == amqp::PublishResult::nacked     ? "the broker refused it (nack)"
                        : r == amqp::PublishResult::unroutable ? "no queue is bound to take it"
                                                               : "no confirm within 15 s";
      std::cerr << "heraldctl: publish failed: " << why << "\n";
      return kFailed;
    }
  } catch (const amqp::Error& e) {
    std::cerr << "heraldctl: publish failed: " << e.what() << "\n";
    return kFailed;
  }
  if (o.json)
    std::cout << json::serialize(json::object{{"published", parsed.id}, {"confirmed", true}}) << "\n";
  else
    std::cout << "published " << (parsed.id.empty() ? "(no id)" : parsed.id) << " (confirmed by broker)\n";
  return kOk;
}

// ---- admin API -------------------------------------------------------------------------

size_t collect(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

// GET a path of the admin API; prints the reason and returns nullopt on any failure.
// GET, or POST with a JSON body when `post_body` is given.
std::optional<json::value> api_call(const Options& o, const std::string& path,
                                    const std::optional<std::string>& post_body) {
  CURL* curl = curl_easy_init();
  std::string url = o.api + path, body;
  curl_slist* headers = nullptr;
  std::string auth = "Authorization: Bearer " + o.token;
  headers = curl_slist_append(headers, auth.c_str());
  if (post_body) {
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post_body->c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(post_body->size()));
  }
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 15000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    std::cerr << "heraldctl: cannot reach " << o.api << ": " << curl_easy_strerror(rc) << "\n";
    return std::nullopt;
  }
  json::error_code ec;
  json::value v = json::parse(body, ec);
  if (status != 200) {
    std::string msg = !ec && v.is_object() && v.as_object().contains("error")
                          ? std::string(v.as_object().at("error").as_string())
                          : body;
    std::cerr << "heraldctl: " << path << ": HTTP " << status << ": " << msg << "\n";
    if (!ec && v.is_object())
      if (const json::value* errors = v.as_object().if_contains("errors"); errors && errors->is_array())
        for (const auto& e : errors->as_array()) std::cerr << "  " << (e.is_string() ? std::string(e.get_string()) : "") << "\n";
    return std::nullopt;
  }
  if (ec) {
    std::cerr << "heraldctl: " << path << ": the API answered with invalid JSON\n";
    return std::nullopt;
  }
  return v;
}

std::optional<json::value> api_get(const Options& o, const std::string& path) { return api_call(o, path, std::nullopt); }

std::optional<json::value> api_post(const Options& o, const std::string& path, const json::object& body) {
  return api_call(o, path, json::serialize(body));
}

std::string encode_segment(const std::string& id) {
  std::string out;
  static const char* hex = "0123456789ABCDEF";
  for (unsigned char c : id) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
    else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string str(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_int64()) return std::to_string(v.as_int64());
  if (v.is_null()) return "";
  return json::serialize(v);
}

int status(const Options& o) {
  if (o.args.size() > 2) {
    std::cerr << "heraldctl status: expects at most one ID\n";
    return kUsage;
  }
  if (o.args.size() == 1) {
    auto v = api_get(o, "/api/v1/directives?limit=1000");
    if (!v) return kFailed;
    if (o.json) {
      std::cout << json::serialize(*v) << "\n";
      return kOk;
    }
    ctl::Table t({"ID", "NUMBER", "ISSUER", "URGENCY", "RECEIVED", "DELIVERIES"});
    for (const auto& d : v->at("directives").as_array())
      t.add({str(d.at("id")), str(d.at("number")), str(d.at("issuer").at("name")),
             str(d.at("urgency")), str(d.at("received_at")), str(d.at("deliveries"))});
    std::cout << t.render();
    return kOk;
  }
  auto v = api_get(o, "/api/v1/directives/" + encode_segment(o.args[1]));
  if (!v) return kFailed;
  if (o.json) {
    std::cout << json::serialize(*v) << "\n";
    return kOk;
  }
  const auto& d = v->as_object();
  std::cout << str(d.at("number")) << "  " << str(d.at("issuer").at("name")) << "  ("
            << str(d.at("id")) << ")\n"
            << str(d.at("subject")) << "\n"
            << "urgency " << str(d.at("urgency")) << ", received " << str(d.at("received_at"))
            << ", " << str(d.at("deliveries")) << " deliveries\n\n";
  std::vector<std::string> states;
  for (DeliveryState s : kAllStates)
    if (d.at("states").as_object().contains(to_string(s))) states.emplace_back(to_string(s));
  std::vector<std::string> header{"CHANNEL"};
  header.insert(header.end(), states.begin(), states.end());
  header.push_back("total");
  ctl::Table t(header);
  for (const auto& [channel, counts] : d.at("counts").as_object()) {
    std::vector<std::string> row{std::string(channel)};
    int64_t total = 0;
    for (const auto& s : states) {
      int64_t n = counts.as_object().contains(s) ? counts.at(s).as_int64() : 0;
      total += n;
      row.push_back(std::to_string(n));
    }
    row.push_back(std::to_string(total));
    t.add(row);
  }
  std::cout << t.render();
  return kOk;
}

int deliveries(const Options& o) {
  if (o.args.size() != 2) {
    std::cerr << "heraldctl deliveries: expects one ID\n";
    return kUsage;
  }
  if (!o.state_filter.empty() && !parse_state(o.state_filter)) {
    std::cerr << "heraldctl: unknown state " << o.state_filter << "\n";
    return kUsage;
  }
  if (!o.channel_filter.empty() && !parse_channel(o.channel_filter)) {
    std::cerr << "heraldctl: unknown channel " << o.channel_filter << "\n";
    return kUsage;
  }
  for (const std::string* t : {&o.since, &o.until})
    if (!t->empty() && !parse_rfc3339(*t)) {
      std::cerr << "heraldctl: " << *t << " is not an RFC 3339 time (e.g. 2021-07-12T08:00:00+07:00)\n";
      return kUsage;
    }
  auto v = api_get(o, "/api/v1/directives/" + encode_segment(o.args[1]) + "/deliveries");
  if (!v) return kFailed;
  json::array kept;
  for (const auto& d : v->at("deliveries").as_array()) {
    if (!o.state_filter.empty() && str(d.at("state")) != o.state_filter) continue;
    if (!o.channel_filter.empty() && str(d.at("channel")) != o.channel_filter) continue;
    if (!o.recipient_filter.empty() && str(d.at("recipient").at("id")) != o.recipient_filter) continue;
    // Last change within [--since, --until] (RFC 3339).
    if (!o.since.empty() || !o.until.empty()) {
      auto at = parse_rfc3339(str(d.at("updated_at")));
      if (!at) continue;
      if (!o.since.empty() && *at < parse_rfc3339(o.since).value_or(INT64_MIN)) continue;
      if (!o.until.empty() && *at > parse_rfc3339(o.until).value_or(INT64_MAX)) continue;
    }
    kept.push_back(d);
  }
  if (o.json) {
    std::cout << json::serialize(json::object{{"deliveries", kept}}) << "\n";
    return kOk;
  }
  ctl::Table t({"RECIPIENT", "NAME", "CHANNEL", "ADDRESS", "STATE", "ATTEMPTS", "LAST ERROR"});
  for (const auto& d : kept) {
    const auto& err = d.at("error");
    t.add({str(d.at("recipient").at("id")), str(d.at("recipient").at("name")), str(d.at("channel")),
           str(d.at("address")), str(d.at("state")), str(d.at("attempts")),
           err.is_object() ? str(err.at("code")) + ": " + str(err.at("text")) : ""});
  }
  std::cout << t.render();
  return kOk;
}

int acks(const Options& o) {
  if (o.args.size() != 2) {
    std::cerr << "heraldctl acks: expects one ID\n";
    return kUsage;
  }
  auto v = api_get(o, "/api/v1/directives/" + encode_segment(o.args[1]) + "/acks" + (o.missing ? "?missing=1" : ""));
  if (!v) return kFailed;
  if (o.json) {
    std::cout << json::serialize(*v) << "\n";
    return kOk;
  }
  const auto& a = v->as_object();
  std::cout << o.args[1] << " (code " << (a.at("code").is_string() ? str(a.at("code")) : "-") << "): "
            << str(a.at("acknowledged")) << " acknowledged, " << str(a.at("missing")) << " not yet\n\n";
  ctl::Table t({"RECIPIENT", "NAME", "ACKNOWLEDGED", "AT", "HOW", "REPLY", "SENT"});
  for (const auto& r : a.at("recipients").as_array()) {
    std::string sent;
    for (const auto& d : r.at("deliveries").as_array())
      sent += (sent.empty() ? "" : ", ") + str(d.at("channel")) + " " + str(d.at("state"));
    const bool acked = r.at("acknowledged").as_bool();
    const json::value* ack = r.as_object().if_contains("ack");
    t.add({str(r.at("recipient").at("id")), str(r.at("recipient").at("name")), acked ? "yes" : "no",
           acked ? str(ack->at("at")) : "", acked ? str(ack->at("channel")) : "", acked ? str(ack->at("text")) : "",
           sent});
  }
  std::cout << t.render();
  return kOk;
}

int replay(const Options& o) {
  if (o.args.size() != 2) {
    std::cerr << "heraldctl replay: expects one ID\n";
    return kUsage;
  }
  json::object body{{"dry_run", o.dry_run}};
  if (!o.state_filter.empty()) {
    json::array states;
    std::stringstream in(o.state_filter);
    for (std::string st; std::getline(in, st, ',');) states.push_back(json::value(st));
    body["states"] = std::move(states);
  }
  if (!o.channel_filter.empty()) body["channel"] = o.channel_filter;
  if (!o.recipient_filter.empty()) body["recipient"] = o.recipient_filter;
  if (!o.reason.empty()) body["reason"] = o.reason;
  auto v = api_post(o, "/api/v1/directives/" + encode_segment(o.args[1]) + "/replay", body);
  if (!v) return kFailed;
  if (o.json) {
    std::cout << json::serialize(*v) << "\n";
    return kOk;
  }
  const auto& r = v->as_object();
  std::cout << (o.dry_run ? "would replay " + str(r.at("would_replay")) : "replayed " + str(r.at("replayed")))
            << " deliveries of " << o.args[1] << "\n";
  ctl::Table t({"RECIPIENT", "CHANNEL", "WAS", "TO", "NOTE"});
  for (const auto& d : r.at("deliveries").as_array()) {
    const std::string old_address = str(d.at("old_address")), address = str(d.at("address"));
    t.add({str(d.at("recipient").at("id")), str(d.at("channel")), str(d.at("was")), address,
           d.at("skipped").is_string() ? "skipped: " + str(d.at("skipped"))
           : old_address != address    ? "was " + old_address
                                       : ""});
  }
  std::cout << t.render();
  return kOk;
}

int cancel(const Options& o) {
  if (o.args.size() != 2) {
    std::cerr << "heraldctl cancel: expects one ID\n";
    return kUsage;
  }
  json::object body;
  if (!o.reason.empty()) body["reason"] = o.reason;
  auto v = api_post(o, "/api/v1/directives/" + encode_segment(o.args[1]) + "/cancel", body);
  if (!v) return kFailed;
  if (o.json) {
    std::cout << json::serialize(*v) << "\n";
    return kOk;
  }
  const auto& r = v->as_object();
  if (r.at("already_cancelled").as_bool()) std::cout << o.args[1] << " was already cancelled\n";
  else
    std::cout << "cancelled " << o.args[1] << ": " << str(r.at("cancelled_deliveries")) << " deliveries held back, "
              << str(r.at("in_flight")) << " already on their way\n";
  return kOk;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

int export_csv(const Options& o) {
  if (o.args.size() != 2 || (!o.csv && !o.json)) {
    std::cerr << "heraldctl export: expects one ID and --csv (or --json)\n";
    return kUsage;
  }
  const std::string base = "/api/v1/directives/" + encode_segment(o.args[1]);
  auto deliveries = api_get(o, base + "/deliveries");
  if (!deliveries) return kFailed;
  auto acks = api_get(o, base + "/acks");
  if (!acks) return kFailed;
  std::map<std::string, const json::object*> ack_of;
  for (const auto& r : acks->at("recipients").as_array())
    if (r.at("acknowledged").as_bool()) ack_of[str(r.at("recipient").at("id"))] = &r.at("ack").as_object();
  if (o.json) {
    std::cout << json::serialize(json::object{{"deliveries", deliveries->at("deliveries")},
                                              {"acks", acks->at("recipients")}})
              << "\n";
    return kOk;
  }
  std::cout << "delivery,recipient_kind,recipient_id,recipient_name,channel,address,state,attempts,error_code,"
               "error_text,updated_at,acknowledged_at,acknowledged_by,ack_text\n";
  for (const auto& d : deliveries->at("deliveries").as_array()) {
    const auto& err = d.at("error");
    const std::string rid = str(d.at("recipient").at("id"));
    auto ack = ack_of.find(rid);
    std::vector<std::string> row{str(d.at("id")),
                                 str(d.at("recipient").at("kind")),
                                 rid,
                                 str(d.at("recipient").at("name")),
                                 str(d.at("channel")),
                                 str(d.at("address")),
                                 str(d.at("state")),
                                 str(d.at("attempts")),
                                 err.is_object() ? str(err.at("code")) : "",
                                 err.is_object() ? str(err.at("text")) : "",
                                 str(d.at("updated_at")),
                                 ack != ack_of.end() ? str(ack->second->at("at")) : "",
                                 ack != ack_of.end() ? str(ack->second->at("channel")) : "",
                                 ack != ack_of.end() ? str(ack->second->at("text")) : ""};
    for (size_t i = 0; i < row.size(); ++i) std::cout << (i ? "," : "") << csv_field(row[i]);
    std::cout << "\n";
  }
  return kOk;
}

int directory(const Options& o) {
  if (o.args.size() >= 2 && o.args[1] == "check") {
    if (o.args.size() != 3) {
      std::cerr << "heraldctl directory check: expects one FILE\n";
      return kUsage;
    }
    std::vector<ConfigError> errors;
    auto dir = load_directory(o.args[2], errors);
    for (const auto& e : errors) std::cerr << e.str() << "\n";
    if (!dir) return kFailed;
    if (o.json)
      std::cout << json::serialize(json::object{{"ok", true}, {"groups", dir->groups().size()},
                                                {"people", dir->people().size()}, {"zones", dir->zones().size()}})
                << "\n";
    else
      std::cout << o.args[2] << ": OK (" << dir->groups().size() << " groups, " << dir->people().size() << " people, "
                << dir->zones().size() << " zones)\n";
    return kOk;
  }
  if (o.args.size() == 2 && o.args[1] == "reload") {
    auto v = api_post(o, "/api/v1/directory/reload", json::object{});
    if (!v) return kFailed;
    if (o.json) std::cout << json::serialize(*v) << "\n";
    else
      std::cout << "directory reloaded: " << str(v->at("groups")) << " groups, " << str(v->at("people"))
                << " people, " << str(v->at("zones")) << " zones\n";
    return kOk;
  }
  std::cerr << "heraldctl directory: expects check FILE or reload\n";
  return kUsage;
}

}  // namespace

int main(int argc, char** argv) {
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
    else if (a == "--token") ok = value(o.token);
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
    ConfigLoad load = load_config(config_path);
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
