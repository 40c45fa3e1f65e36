// heraldctl publish: a herald.directive/v1 file (JSON, or YAML made JSON), or an official
// document's text read as the office wrote it (--from-text), validated and published to
// the broker with a publisher confirm.
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include <boost/json.hpp>
#include <yaml-cpp/yaml.h>

#include "commands.hpp"
#include "directive/directive.hpp"
#include "directive/document_text.hpp"
#include "intake/amqp.hpp"
#include "text/vietnamese.hpp"

namespace json = boost::json;

namespace herald::ctl {

namespace {

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

}  // namespace

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

}  // namespace herald::ctl
