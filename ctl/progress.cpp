// heraldctl status, deliveries, acks and export: how a directive is going out, read from
// heraldd's admin API, as a table or JSON (--json).
#include <climits>
#include <cstdint>
#include <iostream>
#include <map>

#include <boost/json.hpp>

#include "commands.hpp"
#include "core/time.hpp"
#include "table.hpp"

namespace json = boost::json;

namespace herald::ctl {

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
  // State, channel and recipient are filtered by heraldd; the time window here.
  std::string query;
  if (!o.state_filter.empty()) query += "&state=" + o.state_filter;
  if (!o.channel_filter.empty()) query += "&channel=" + o.channel_filter;
  if (!o.recipient_filter.empty()) query += "&recipient=" + encode_segment(o.recipient_filter);
  if (!query.empty()) query[0] = '?';
  auto v = api_get_all(o, "/api/v1/directives/" + encode_segment(o.args[1]) + "/deliveries" + query, "deliveries");
  if (!v) return kFailed;
  json::array kept;
  for (const auto& d : v->at("deliveries").as_array()) {
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
  auto v = api_get_all(o, "/api/v1/directives/" + encode_segment(o.args[1]) + "/acks" + (o.missing ? "?missing=1" : ""),
                       "recipients");
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

namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

int export_csv(const Options& o) {
  if (o.args.size() != 2 || (!o.csv && !o.json)) {
    std::cerr << "heraldctl export: expects one ID and --csv (or --json)\n";
    return kUsage;
  }
  const std::string base = "/api/v1/directives/" + encode_segment(o.args[1]);
  auto deliveries = api_get_all(o, base + "/deliveries", "deliveries");
  if (!deliveries) return kFailed;
  auto acks = api_get_all(o, base + "/acks", "recipients");
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

}  // namespace herald::ctl
