#include "directive/directive.hpp"

#include <algorithm>
#include <array>
#include <set>

#include <boost/json.hpp>

#include "core/time.hpp"
#include "text/vietnamese.hpp"

namespace json = boost::json;

namespace herald {

namespace {

constexpr std::array<std::string_view, 4> kUrgency{"normal", "khan", "thuong_khan", "hoa_toc"};
constexpr std::array<std::string_view, 4> kConfidentiality{"normal", "mat", "toi_mat", "tuyet_mat"};

// Walks one JSON object, recording errors with their paths and flagging unknown fields.
class ObjectReader {
 public:
  ObjectReader(const json::object& o, std::string path, std::vector<DirectiveError>& errors)
      : o_(o), path_(std::move(path)), errors_(errors) {}

  std::string at(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }

  const json::value* get(std::string_view key, bool required) {
    known_.insert(std::string(key));
    auto it = o_.find(key);
    if (it == o_.end() || it->value().is_null()) {
      if (required) errors_.push_back({at(key), "is required"});
      return nullptr;
    }
    return &it->value();
  }

  std::optional<std::string> string(std::string_view key, bool required, size_t max_len,
                                    bool non_empty = true) {
    const json::value* v = get(key, required);
    if (!v) return std::nullopt;
    if (!v->is_string()) {
      errors_.push_back({at(key), "must be a string"});
      return std::nullopt;
    }
    std::string s(v->get_string());
    if (non_empty && s.find_first_not_of(" \t\r\n") == std::string::npos) {
      errors_.push_back({at(key), "must not be empty"});
      return std::nullopt;
    }
    if (s.size() > max_len) {
      errors_.push_back({at(key), "is longer than " + std::to_string(max_len) + " bytes"});
      return std::nullopt;
    }
    return s;
  }

  const json::object* object(std::string_view key, bool required) {
    const json::value* v = get(key, required);
    if (!v) return nullptr;
    if (!v->is_object()) {
      errors_.push_back({at(key), "must be an object"});
      return nullptr;
    }
    return &v->get_object();
  }

  const json::array* array(std::string_view key, bool required) {
    const json::value* v = get(key, required);
    if (!v) return nullptr;
    if (!v->is_array()) {
      errors_.push_back({at(key), "must be an array"});
      return nullptr;
    }
    return &v->get_array();
  }

  void finish() {
    for (const auto& kv : o_)
      if (!known_.count(std::string(kv.key())))
        errors_.push_back({at(kv.key()), "is not a field of " + std::string(kDirectiveSchema)});
  }

 private:
  const json::object& o_;
  std::string path_;
  std::vector<DirectiveError>& errors_;
  std::set<std::string> known_;
};

template <size_t N>
std::optional<size_t> one_of(const std::array<std::string_view, N>& names, const std::string& s) {
  for (size_t i = 0; i < N; ++i)
    if (names[i] == s) return i;
  return std::nullopt;
}

template <size_t N>
std::string list(const std::array<std::string_view, N>& names) {
  std::string out;
  for (auto n : names) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

bool printable_id(const std::string& s) {
  for (unsigned char c : s)
    if (c <= 0x20 || c >= 0x7F) return false;
  return true;
}

void line_col(std::string_view body, size_t offset, size_t& line, size_t& col) {
  line = 1;
  col = 1;
  for (size_t i = 0; i < offset && i < body.size(); ++i) {
    if (body[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
}

}  // namespace

std::string_view to_string(Urgency u) { return kUrgency[static_cast<size_t>(u)]; }
std::string_view to_string(Confidentiality c) { return kConfidentiality[static_cast<size_t>(c)]; }

std::string DirectiveParse::summary() const {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += "; ";
    out += e.path.empty() ? e.message : e.path + ": " + e.message;
  }
  return out;
}

DirectiveParse parse_directive(std::string_view body, size_t max_bytes) {
  DirectiveParse out;
  auto& errors = out.errors;
  if (body.size() > max_bytes) {
    errors.push_back({"", "directive is " + std::to_string(body.size()) +
                              " bytes, more than the limit of " + std::to_string(max_bytes)});
    return out;
  }

  // Checked first so that a wrong encoding (say Windows-1258) is named as such, not
  // reported as a JSON syntax error.
  if (size_t bad = invalid_utf8_at(body); bad != std::string_view::npos) {
    size_t line, col;
    line_col(body, bad, line, col);
    errors.push_back({"", "not valid UTF-8 at line " + std::to_string(line) + " column " +
                              std::to_string(col)});
    return out;
  }

  json::parse_options opts;
  opts.max_depth = 16;  // a directive is shallow; deep nesting is hostile input
  json::stream_parser parser({}, opts);
  json::error_code ec;
  size_t used = parser.write_some(body.data(), body.size(), ec);
  std::string problem;
  if (ec) problem = ec.message();
  else if (used != body.size()) problem = "unexpected data after the JSON value";
  else if (parser.finish(ec); ec) problem = ec.message();
  if (ec == json::error::too_deep)  // Boost says only "too deep"
    problem = "nested more than " + std::to_string(opts.max_depth) + " levels deep";
  if (!problem.empty()) {
    size_t line, col;
    line_col(body, used, line, col);
    errors.push_back({"", "not valid JSON: " + problem + " at line " + std::to_string(line) +
                              " column " + std::to_string(col)});
    return out;
  }
  json::value root = parser.release();
  if (!root.is_object()) {
    errors.push_back({"", "must be a JSON object"});
    return out;
  }
  ObjectReader r(root.get_object(), "", errors);

  Directive d;
  // Known even when the rest is refused, so the dead-letter log can name the directive.
  if (auto it = root.get_object().find("id"); it != root.get_object().end() && it->value().is_string() &&
                                              it->value().get_string().size() <= 200 &&
      printable_id(std::string(it->value().get_string())))
    out.id = std::string(it->value().get_string());
  if (auto schema = r.string("schema", true, 100)) {
    if (*schema != kDirectiveSchema) {
      errors.push_back({"schema", "is \"" + *schema + "\", expected \"" +
                                      std::string(kDirectiveSchema) + "\""});
      return out;  // another schema's fields would only add noise
    }
  }
  if (auto id = r.string("id", true, 200)) {
    if (!printable_id(*id)) errors.push_back({"id", "must be printable ASCII without spaces"});
    else d.id = out.id = *id;
  }
  if (auto v = r.string("number", true, 100)) d.number = *v;
  if (const json::object* issuer = r.object("issuer", true)) {
    ObjectReader ir(*issuer, "issuer", errors);
    if (auto v = ir.string("code", true, 100)) d.issuer_code = *v;
    if (auto v = ir.string("name", true, 500)) d.issuer_name = *v;
    ir.finish();
  }
  if (auto v = r.string("issued_at", true, 64)) {
    if (auto ms = parse_rfc3339(*v)) {
      d.issued_at = *v;
      d.issued_at_ms = *ms;
    } else {
      errors.push_back({"issued_at", "\"" + *v +
                                         "\" is not an RFC 3339 date-time with offset, e.g. "
                                         "2021-07-12T08:00:00+07:00"});
    }
  }
  if (auto v = r.string("subject", true, 2000)) d.subject = *v;
  if (auto v = r.string("summary", false, 2000, false)) d.summary = *v;
  if (auto v = r.string("body", false, max_bytes, false)) d.body = *v;
  if (auto v = r.string("urgency", false, 32)) {
    if (auto i = one_of(kUrgency, *v)) d.urgency = static_cast<Urgency>(*i);
    else errors.push_back({"urgency", "\"" + *v + "\" is not one of " + list(kUrgency)});
  }
  if (auto v = r.string("confidentiality", false, 32)) {
    if (auto i = one_of(kConfidentiality, *v)) d.confidentiality = static_cast<Confidentiality>(*i);
    else errors.push_back({"confidentiality", "\"" + *v + "\" is not one of " + list(kConfidentiality)});
  }
  if (const json::array* recips = r.array("recipients", true)) {
    if (recips->empty()) errors.push_back({"recipients", "must name at least one group or person"});
    if (recips->size() > 10000) errors.push_back({"recipients", "has more than 10000 entries"});
    std::set<std::pair<int, std::string>> seen;
    for (size_t i = 0; i < recips->size() && i < 10000; ++i) {
      std::string path = "recipients[" + std::to_string(i) + "]";
      const json::value& item = (*recips)[i];
      if (!item.is_object()) {
        errors.push_back({path, "must be an object with \"group\" or \"person\""});
        continue;
      }
      ObjectReader ir(item.get_object(), path, errors);
      auto group = ir.string("group", false, 100);
      auto person = ir.string("person", false, 100);
      ir.finish();
      if (group.has_value() == person.has_value()) {
        errors.push_back({path, "must have exactly one of \"group\" or \"person\""});
        continue;
      }
      RecipientRef ref{group ? RecipientRef::Kind::group : RecipientRef::Kind::person,
                       group ? *group : *person};
      if (seen.insert({static_cast<int>(ref.kind), ref.id}).second) d.recipients.push_back(ref);
    }
  }
  if (const json::array* chans = r.array("channels", false)) {
    for (size_t i = 0; i < chans->size(); ++i) {
      std::string path = "channels[" + std::to_string(i) + "]";
      const json::value& c = (*chans)[i];
      auto ch = c.is_string() ? parse_channel(std::string_view(c.get_string())) : std::nullopt;
      if (!ch) {
        errors.push_back({path, "must be one of sms, zalo, email, loudspeaker"});
        continue;
      }
      if (std::find(d.channels.begin(), d.channels.end(), *ch) == d.channels.end())
        d.channels.push_back(*ch);
    }
    if (chans->empty()) errors.push_back({"channels", "must not be empty when given"});
  }
  if (const json::object* ack = r.object("ack", false)) {
    ObjectReader ar(*ack, "ack", errors);
    if (const json::value* req = ar.get("required", false)) {
      if (!req->is_bool()) errors.push_back({"ack.required", "must be true or false"});
      else d.ack_required = req->get_bool();
    }
    if (auto v = ar.string("deadline", false, 64)) {
      if (auto ms = parse_rfc3339(*v)) {
        d.ack_deadline = *v;
        d.ack_deadline_ms = *ms;
      } else {
        errors.push_back({"ack.deadline", "\"" + *v + "\" is not an RFC 3339 date-time with offset"});
      }
    }
    ar.finish();
  }
  if (const json::object* ls = r.object("loudspeaker", false)) {
    ObjectReader lr(*ls, "loudspeaker", errors);
    LoudspeakerRequest req;
    if (const json::array* zones = lr.array("zones", true)) {
      for (size_t i = 0; i < zones->size(); ++i) {
        const json::value& z = (*zones)[i];
        if (!z.is_string() || z.get_string().empty())
          errors.push_back({"loudspeaker.zones[" + std::to_string(i) + "]", "must be a zone id"});
        else
          req.zones.emplace_back(z.get_string());
      }
    }
    if (auto v = lr.string("text", false, 20000, false)) req.text = *v;
    if (const json::value* rep = lr.get("repeat", false)) {
      if (!rep->is_int64() || rep->get_int64() < 1 || rep->get_int64() > 10)
        errors.push_back({"loudspeaker.repeat", "must be an integer from 1 to 10"});
      else
        req.repeat = static_cast<int>(rep->get_int64());
    }
    lr.finish();
    d.loudspeaker = std::move(req);
  }
  if (const json::array* atts = r.array("attachments", false)) {
    for (size_t i = 0; i < atts->size(); ++i) {
      std::string path = "attachments[" + std::to_string(i) + "]";
      if (!(*atts)[i].is_object()) {
        errors.push_back({path, "must be an object"});
        continue;
      }
      ObjectReader ar((*atts)[i].get_object(), path, errors);
      Attachment a;
      a.name = ar.string("name", true, 500).value_or("");
      a.url = ar.string("url", true, 2000).value_or("");
      a.sha256 = ar.string("sha256", false, 64).value_or("");
      if (!a.url.empty() && a.url.rfind("https://", 0) != 0 && a.url.rfind("http://", 0) != 0)
        errors.push_back({path + ".url", "must be an http(s) URL"});
      ar.finish();
      d.attachments.push_back(std::move(a));
    }
  }
  r.finish();
  if (errors.empty()) out.directive = std::move(d);
  return out;
}

}  // namespace herald
