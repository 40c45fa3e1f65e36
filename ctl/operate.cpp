// heraldctl replay and cancel: an operator acting on a directive through heraldd's admin
// API (an operator token).
#include <iostream>
#include <sstream>

#include <boost/json.hpp>

#include "commands.hpp"
#include "table.hpp"

namespace json = boost::json;

namespace herald::ctl {

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
  const bool pending = r.contains("pending") && r.at("pending").is_bool() && r.at("pending").as_bool();
  std::cout << (o.dry_run ? "would replay " + str(r.at("would_replay")) : "replayed " + str(r.at("replayed")))
            << " deliveries of " << o.args[1]
            << (pending ? " so far; heraldd replays the rest in batches (heraldctl status shows them)" : "") << "\n";
  if (o.dry_run && r.contains("matching") && r.at("matching").as_int64() > static_cast<int64_t>(r.at("deliveries").as_array().size()))
    std::cout << "(the first " << r.at("deliveries").as_array().size() << " of " << str(r.at("matching")) << " listed)\n";
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
  else if (r.contains("pending") && r.at("pending").as_bool())
    std::cout << "cancelled " << o.args[1] << ": nothing more of it is sent; " << str(r.at("cancelled_deliveries"))
              << " deliveries held back so far, heraldd holds back the rest in batches\n";
  else
    std::cout << "cancelled " << o.args[1] << ": " << str(r.at("cancelled_deliveries")) << " deliveries held back, "
              << str(r.at("in_flight")) << " already on their way\n";
  return kOk;
}

}  // namespace herald::ctl
