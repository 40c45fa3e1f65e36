// http/hooks: provider receipts through handle_request, against a real SQLite store with
// deliveries claimed as the dispatcher claims them. Forward only; unknown, foreign or
// malformed callbacks change nothing; every accepted receipt is an event.
#include <algorithm>

#include <boost/json.hpp>
#include <boost/url.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "core/time.hpp"
#include "gateway_support.hpp"
#include "http/api.hpp"
#include "intake/intake.hpp"
#include "net/url.hpp"
#include "raw_db.hpp"
#include "support.hpp"
#include "text/vietnamese.hpp"

namespace json = boost::json;

namespace herald {
namespace {

namespace bhttp = boost::beast::http;
using S = DeliveryState;

class HooksTest : public ::testing::Test {
 protected:
  HooksTest()
      : dir_(test::example_directory()),
        config_(test::config_with(dir_)),
        store_(test::open_store(tmp_.file("herald.db"))),
        ctx_{*store_, metrics_, config_.http, [] { return true; }, &gateways_, {}, nullptr, {}, nullptr, {}, {}, {}, {}, nullptr} {}

  void SetUp() override {
    const std::string kannel = R"(type: kannel
sendsms_url: http://127.0.0.1:13013/cgi-bin/sendsms
username: herald
password: kannel-pw-hooks
)";
    gateways_["kannel-local"] = test::gateway_from_yaml("kannel-local", kannel);
    gateways_["kannel-backup"] = test::gateway_from_yaml("kannel-backup", kannel);
    gateways_["sms-vn"] = test::gateway_from_yaml("sms-vn", R"(type: http_json
url: http://127.0.0.1:9090/send
body: '{"to": "{{to}}", "text": "{{text}}"}'
receipt:
  status: /Status
  id: /SMSID
  map: {"1": delivered, "2": failed}
)");
    for (const auto& [name, g] : gateways_) ASSERT_NE(g, nullptr) << name;

    Intake intake(*store_, [this] { return dir_; }, config_, metrics_);
    ASSERT_EQ(intake.take(test::seed_json()).kind, IntakeResult::Kind::committed);
    const int64_t now = now_ms() + 1000;
    local_ = store_->claim_due(Channel::sms, "kannel-local", now, 4);
    backup_ = store_->claim_due(Channel::sms, "kannel-backup", now, 1);
    json_ = store_->claim_due(Channel::sms, "sms-vn", now, 1);
    ASSERT_EQ(local_.size(), 4u);
    ASSERT_EQ(backup_.size(), 1u);
    ASSERT_EQ(json_.size(), 1u);
    // A delivery never sent has a token too; the Store API does not show it.
    queued_token_ = test::RawDb(tmp_.file("herald.db"))
                        .text("SELECT token FROM deliveries WHERE channel = 'sms' AND state = 'queued' LIMIT 1");
    ASSERT_EQ(queued_token_.size(), 32u);
  }

  http::Response call(const std::string& target, bhttp::verb verb = bhttp::verb::get,
                      const std::string& body = {}, const std::string& content_type = {}) {
    http::Request req{verb, target, 11};
    if (!content_type.empty()) req.set(bhttp::field::content_type, content_type);
    req.body() = body;
    req.prepare_payload();
    return http::handle_request(req, ctx_);
  }
  static std::string hook(const std::string& gateway, const std::string& token, const std::string& query = {}) {
    return "/hooks/sms/" + gateway + "/" + token + (query.empty() ? "" : "?" + query);
  }
  static json::value body(const http::Response& res) { return json::parse(res.body()); }
  static json::value answer(int64_t id, bool applied, S state) {
    return json::object{{"delivery", id}, {"applied", applied}, {"state", to_string(state)}};
  }

  S state(int64_t id) { return store_->delivery(id)->state; }
  std::vector<EventRow> events_of(int64_t id) {
    std::vector<EventRow> out;
    for (auto& e : store_->events(test::kSeedId))
      if (e.delivery_id == id) out.push_back(std::move(e));
    return out;
  }
  /// Everything a callback could change: states, errors, provider ids, events.
  std::string snapshot() {
    std::string out;
    for (const auto& r : store_->deliveries(test::kSeedId))
      out += std::to_string(r.id) + std::string(to_string(r.state)) + r.error_code + r.provider_ref +
             std::to_string(r.updated_at_ms) + ";";
    return out + std::to_string(store_->events(test::kSeedId).size());
  }
  std::string metrics_text() { return call("/metrics").body(); }

  test::TempDir tmp_;
  std::shared_ptr<const Directory> dir_;
  Config config_;
  std::unique_ptr<Store> store_;
  Metrics metrics_;
  std::map<std::string, std::shared_ptr<Gateway>> gateways_;
  http::ApiContext ctx_;
  std::vector<ClaimedDelivery> local_, backup_, json_;
  std::string queued_token_;
};

TEST_F(HooksTest, KannelReportsMoveTheDeliveryOnlyForward) {
  const ClaimedDelivery& d = local_[0];
  auto res = call(hook("kannel-local", d.token, "status=8&answer=ACK%2F"));
  ASSERT_EQ(res.result(), bhttp::status::ok) << res.body();
  EXPECT_EQ(res[bhttp::field::content_type], "application/json");
  EXPECT_EQ(body(res), answer(d.id, true, S::sent));
  EXPECT_EQ(state(d.id), S::sent);

  res = call(hook("kannel-local", d.token, "status=1&answer=id%3A1+stat%3ADELIVRD"));
  ASSERT_EQ(res.result(), bhttp::status::ok) << res.body();
  EXPECT_EQ(body(res), answer(d.id, true, S::delivered));
  EXPECT_EQ(state(d.id), S::delivered);

  // A late "accepted by SMSC" changes nothing, and writes nothing: whoever can post
  // receipts in a loop must not fill the store.
  const size_t before = events_of(d.id).size();
  res = call(hook("kannel-local", d.token, "status=8&answer=ACK%2F"));
  ASSERT_EQ(res.result(), bhttp::status::ok) << res.body();
  EXPECT_EQ(body(res), answer(d.id, false, S::delivered));
  EXPECT_EQ(state(d.id), S::delivered);
  auto ev = events_of(d.id);
  EXPECT_EQ(ev.size(), before);

  // An "undelivered" report for a delivered message (another segment) changes nothing either.
  res = call(hook("kannel-local", d.token, "status=2"));
  ASSERT_EQ(res.result(), bhttp::status::ok) << res.body();
  EXPECT_EQ(body(res), answer(d.id, false, S::delivered));
  DeliveryRow row = *store_->delivery(d.id);
  EXPECT_EQ(row.state, S::delivered);
  EXPECT_EQ(row.error_code, "");
  ev = events_of(d.id);
  EXPECT_EQ(ev.size(), before);

  // The event trail: intake, claim, sent, delivered; the two reports that moved nothing left none.
  std::vector<std::pair<std::string, std::string>> trail;
  for (const auto& e : ev) trail.emplace_back(e.to_state, e.source);
  EXPECT_EQ(trail, (std::vector<std::pair<std::string, std::string>>{{"queued", "intake"},
                                                                     {"sending", "dispatcher"},
                                                                     {"sent", "receipt:kannel-local"},
                                                                     {"delivered", "receipt:kannel-local"}}));
  EXPECT_EQ(metrics_.receipts_applied, 2u);
  EXPECT_EQ(metrics_.receipts_unchanged, 2u);
  EXPECT_EQ(metrics_.receipts_ignored, 0u);
  EXPECT_EQ(metrics_.receipts_rejected, 0u);
}

TEST_F(HooksTest, ProviderTextThatIsNotUtf8IsStoredAsUtf8) {
  // A provider's answer cut inside a character, bytes that are not UTF-8 at all, a NUL: the
  // store keeps well-formed UTF-8 (U+FFFD for each bad byte), so the API's JSON stays JSON.
  const ClaimedDelivery& d = local_[2];
  auto res = call(hook("kannel-local", d.token, "status=16&answer=NACK%2FT%E1%BB%AB+ch%E1%BB%91i%C3%28%FF%00x"));
  ASSERT_EQ(res.result(), bhttp::status::ok) << res.body();
  DeliveryRow row = *store_->delivery(d.id);
  EXPECT_TRUE(valid_utf8(row.error_text)) << row.error_text;
  EXPECT_EQ(row.error_text.find('\0'), std::string::npos);
  EXPECT_EQ(row.error_text, "rejected by SMSC: NACK/Từ chối\xEF\xBF\xBD(\xEF\xBF\xBDx");
  for (const auto& e : events_of(d.id)) EXPECT_TRUE(valid_utf8(e.detail)) << e.detail;
  // A reply in some other charset (Latin-1 "Đã nhận" as Kannel might pass it on).
  ReplyRecord r;
  r.channel = Channel::sms;
  r.sender = "+8491200\xFF";
  r.text = "\xD0\xE3 nh\xE2n";
  store_->record_reply(r, now_ms());
  auto replies = store_->replies(10);
  ASSERT_FALSE(replies.empty());
  EXPECT_TRUE(valid_utf8(replies.front().text) && valid_utf8(replies.front().sender)) << replies.front().text;
  boost::json::error_code ec;
  boost::json::parse(boost::json::serialize(boost::json::value(replies.front().text)), ec);
  EXPECT_FALSE(ec) << "the API's JSON parses";
}

TEST_F(HooksTest, FailureReceiptSetsTheErrorAndALaterSuccessClearsIt) {
  const ClaimedDelivery& d = local_[1];
  auto res = call(hook("kannel-local", d.token, "status=16&answer=NACK%2F0x0000000b%2FInvalid+Destination"));
  ASSERT_EQ(res.result(), bhttp::status::ok) << res.body();
  EXPECT_EQ(body(res), answer(d.id, true, S::failed));
  DeliveryRow row = *store_->delivery(d.id);
  EXPECT_EQ(row.error_code, "kannel_dlr_16");
  EXPECT_EQ(row.error_text, "rejected by SMSC: NACK/0x0000000b/Invalid Destination");

  // Another segment got through: success wins, and the error no longer describes it
  // (the event log keeps both).
  res = call(hook("kannel-local", d.token, "status=1"));
  EXPECT_EQ(body(res), answer(d.id, true, S::delivered));
  row = *store_->delivery(d.id);
  EXPECT_EQ(row.state, S::delivered);
  EXPECT_EQ(row.error_code, "");
  EXPECT_EQ(row.error_text, "");
  auto ev = events_of(d.id);
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[2].detail,
            "status 16 (rejected by SMSC: NACK/0x0000000b/Invalid Destination); kannel_dlr_16: "
            "rejected by SMSC: NACK/0x0000000b/Invalid Destination");
  EXPECT_EQ(ev[3].detail, "status 1 (delivered to phone)");
}

TEST_F(HooksTest, UnknownOrForeignTokensAre404AndChangeNothing) {
  const std::string before = snapshot();
  const std::string& token = local_[0].token;
  const std::vector<std::string> targets = {
      hook("kannel-local", "0123456789abcdef0123456789abcdef", "status=1"),  // no such token
      hook("kannel-local", "0123", "status=1"),                              // not even a token's shape
      hook("kannel-backup", token, "status=1"),   // sent through kannel-local, not this one
      hook("sms-vn", token, "status=1"),          // another gateway type on the same channel
      hook("kannel-local", backup_[0].token, "status=1"),
      hook("kannel-local", queued_token_, "status=1"),  // never sent
      hook("nope", token, "status=1"),
      "/hooks/zalo/kannel-local/" + token + "?status=1",   // wrong channel
      "/hooks/telex/kannel-local/" + token + "?status=1",  // no such channel
      "/hooks/sms/kannel-local?status=1",
      "/hooks/sms/kannel-local/" + token + "/extra?status=1",
      "/hooks?status=1",
  };
  for (const auto& t : targets) {
    auto res = call(t);
    EXPECT_EQ(res.result(), bhttp::status::not_found) << t;
    auto b = body(res);
    EXPECT_TRUE(b == json::parse(R"({"error": "unknown delivery"})") || b == json::parse(R"({"error": "no such hook"})"))
        << t << " -> " << res.body();
  }
  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(state(local_[0].id), S::sending);
  EXPECT_EQ(metrics_.receipts_rejected, targets.size());
  EXPECT_EQ(metrics_.receipts_applied, 0u);
  EXPECT_EQ(metrics_.receipts_ignored, 0u);
}

TEST_F(HooksTest, MalformedReportsAre400AndChangeNothing) {
  const std::string before = snapshot();
  const std::string& token = local_[0].token;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"answer=stat%3ADELIVRD", "missing status"},
      {"status=", "status is not a number"},
      {"status=DELIVRD", "status is not a number"},
      {"status=%25d", "status is not a number"},  // Kannel's escape left unfilled
      {"status=3", "unknown DLR status 3"},
      {"status=1%200", "status is not a number"},
  };
  for (const auto& [query, why] : cases) {
    auto res = call(hook("kannel-local", token, query));
    EXPECT_EQ(res.result(), bhttp::status::bad_request) << query;
    EXPECT_EQ(body(res), (json::object{{"error", why}})) << query;
  }
  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(metrics_.receipts_rejected, cases.size());

  EXPECT_EQ(call(hook("kannel-local", token, "status=1"), bhttp::verb::put).result(),
            bhttp::status::method_not_allowed);
  EXPECT_EQ(call(hook("kannel-local", token, "status=1"), bhttp::verb::delete_).result(),
            bhttp::status::method_not_allowed);
  EXPECT_EQ(snapshot(), before);
}

TEST_F(HooksTest, ReceiptBeforeTheGatewayAnswerIsAppliedAndTheAnswerChangesNothing) {
  // Kannel calls the dlr-url as soon as the SMSC answers, possibly before heraldd has read
  // sendsms's "0: Accepted": the delivery is still `sending` then.
  const std::vector<std::pair<std::string, S>> reports = {{"8", S::sent}, {"1", S::delivered}, {"16", S::failed}};
  for (size_t i = 0; i < reports.size(); ++i) {
    const ClaimedDelivery& d = local_[i];
    ASSERT_EQ(state(d.id), S::sending);
    auto res = call(hook("kannel-local", d.token, "status=" + reports[i].first));
    EXPECT_EQ(body(res), answer(d.id, true, reports[i].second));

    // Then the sendsms answer arrives, recorded as the dispatcher records it.
    const size_t events = events_of(d.id).size();
    TransitionResult r = store_->transition(
        d.id, {S::sent, Cause::gateway_accepted, "gateway:kannel-local", "accepted", std::string(), {}, {}, {}});
    EXPECT_TRUE(r.found);
    EXPECT_FALSE(r.applied) << reports[i].first;
    EXPECT_EQ(state(d.id), reports[i].second);
    EXPECT_EQ(events_of(d.id).size(), events + 1);
  }
  EXPECT_EQ(store_->delivery(local_[2].id)->error_code, "kannel_dlr_16");  // not cleared by the late answer
}

TEST_F(HooksTest, TheDlrUrlKannelIsGivenLeadsBackHere) {
  // What the dispatcher hands Kannel, and what Kannel calls once it fills %d and %A.
  const ClaimedDelivery& d = local_[3];
  const Gateway& gw = *gateways_.at("kannel-local");
  OutboundMessage m;
  m.token = d.token;
  m.address = d.address;
  m.text = "Kính gửi";
  m.receipt_url = "http://127.0.0.1:8080/hooks/sms/kannel-local/" + d.token + "?" + gw.receipt_query();
  std::string dlr_url;
  for (const auto& [k, v] : test::query_of(gw.build(m).url))
    if (k == "dlr-url") dlr_url = v;
  ASSERT_FALSE(dlr_url.empty());
  const std::string answer_text = "id:7 sub:001 dlvrd:001 stat:DELIVRD err:000";
  for (const auto& [esc, value] : {std::pair{std::string("%d"), std::string("1")},
                                   std::pair{std::string("%A"), net::percent_encode(answer_text)}})
    dlr_url.replace(dlr_url.find(esc), esc.size(), value);
  auto u = boost::urls::parse_uri(dlr_url);
  ASSERT_TRUE(u) << dlr_url;
  auto res = call(std::string(u->encoded_target()));
  ASSERT_EQ(res.result(), bhttp::status::ok) << res.body();
  EXPECT_EQ(body(res), answer(d.id, true, S::delivered));
  EXPECT_EQ(events_of(d.id).back().detail, "status 1 (delivered to phone: " + answer_text + ")");
}

TEST_F(HooksTest, HttpJsonCallbackByPost) {
  const ClaimedDelivery& d = json_[0];
  auto bad = call(hook("sms-vn", d.token), bhttp::verb::post, "{\"Status\": ", "application/json");
  EXPECT_EQ(bad.result(), bhttp::status::bad_request);
  EXPECT_EQ(body(bad), json::parse(R"({"error": "callback body is not JSON"})"));
  EXPECT_EQ(state(d.id), S::sending);

  auto res = call(hook("sms-vn", d.token), bhttp::verb::post, R"({"Status": 1, "SMSID": "vn-778"})",
                  "application/json; charset=utf-8");
  ASSERT_EQ(res.result(), bhttp::status::ok) << res.body();
  EXPECT_EQ(body(res), answer(d.id, true, S::delivered));
  DeliveryRow row = *store_->delivery(d.id);
  EXPECT_EQ(row.state, S::delivered);
  EXPECT_EQ(row.provider_ref, "vn-778");
  EXPECT_EQ(events_of(d.id).back().source, "receipt:sms-vn");
}

TEST_F(HooksTest, RepliesNeedTheGatewaysMoTokenWhenItHasOne) {
  constexpr const char* kMoToken = "mo-token-hooks-0123456789";
  gateways_["kannel-mo"] = test::gateway_from_yaml("kannel-mo", std::string(R"(type: kannel
sendsms_url: http://127.0.0.1:13013/cgi-bin/sendsms
username: herald
password: kannel-pw-hooks
mo_token: )") + kMoToken + "\n");
  ASSERT_NE(gateways_["kannel-mo"], nullptr);
  ctx_.directory = [this] { return dir_; };
  const std::string reply = "?from=%2B84912000001&text=OK";
  // With a token: only the URL that carries it takes the reply.
  for (const std::string& path : {std::string("/hooks/sms/kannel-mo/mo"), std::string("/hooks/sms/kannel-mo/mo/wrong"),
                                  std::string("/hooks/sms/kannel-mo/mo/") + kMoToken + "x",
                                  std::string("/hooks/sms/kannel-mo/mo/") + std::string(kMoToken).substr(1)}) {
    const std::string before = snapshot();
    EXPECT_EQ(call(path + reply).result(), bhttp::status::not_found) << path;
    EXPECT_EQ(snapshot(), before) << path;
  }
  EXPECT_EQ(call(std::string("/hooks/sms/kannel-mo/mo/") + kMoToken + reply).result(), bhttp::status::ok);
  // Without one (kannel-local), the plain URL takes it, and nothing longer does.
  EXPECT_EQ(call("/hooks/sms/kannel-local/mo" + reply).result(), bhttp::status::ok);
  EXPECT_EQ(call("/hooks/sms/kannel-local/mo/" + std::string(kMoToken) + reply).result(), bhttp::status::not_found);
  // A receipt path with a fifth segment is no receipt.
  EXPECT_EQ(call(hook("kannel-local", local_[0].token + "/x", "type=1")).result(), bhttp::status::not_found);
}

TEST_F(HooksTest, MoTokensMustBeLongAndPathSafe) {
  const std::string base = "type: kannel\nsendsms_url: http://127.0.0.1:13013/cgi-bin/sendsms\nusername: h\npassword: p\n";
  auto short_errors = test::gateway_errors("k", base + "mo_token: short\n");
  ASSERT_EQ(short_errors.size(), 1u);
  EXPECT_NE(short_errors[0].find("at least 16 characters"), std::string::npos) << short_errors[0];
  auto slash_errors = test::gateway_errors("k", base + "mo_token: abcdefgh/ijklmnopq\n");
  ASSERT_EQ(slash_errors.size(), 1u);
  EXPECT_NE(slash_errors[0].find("must not contain"), std::string::npos) << slash_errors[0];
}

TEST_F(HooksTest, MetricsCountReceiptsByOutcome) {
  const std::string& token = local_[0].token;
  call(hook("kannel-local", token, "status=8"));   // applied
  call(hook("kannel-local", token, "status=1"));   // applied
  call(hook("kannel-local", token, "status=4"));   // unchanged: nothing written
  call(hook("kannel-local", token, "status=x"));   // rejected: malformed
  call(hook("kannel-backup", token, "status=1"));  // rejected: foreign
  call(hook("kannel-local", "ffffffffffffffffffffffffffffffff", "status=1"));  // rejected: unknown
  const std::string m = metrics_text();
  for (const char* line : {"# TYPE herald_receipts_total counter\n",
                           "\nherald_receipts_total{outcome=\"applied\"} 2\n",
                           "\nherald_receipts_total{outcome=\"unchanged\"} 1\n",
                           "\nherald_receipts_total{outcome=\"ignored\"} 0\n",
                           "\nherald_receipts_total{outcome=\"rejected\"} 3\n",
                           "\nherald_deliveries{channel=\"sms\",state=\"delivered\"} 1\n",
                           "\nherald_deliveries{channel=\"sms\",state=\"sending\"} 5\n"})
    EXPECT_NE(m.find(line), std::string::npos) << "missing: " << line << "\nin:\n" << m;
}

// The event loop's path (server.cpp): receipts go through the store writer and are
// answered once committed, with the same answers as the inline path.
TEST_F(HooksTest, ReceiptsThroughTheStoreWriterAnswerOnceCommitted) {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  StoreWriter writer(*store_, io);
  ctx_.writer = &writer;
  auto call_async = [&](const std::string& target, bool& answered_inline) {
    auto req = std::make_shared<http::Request>(bhttp::verb::get, target, 11);
    std::optional<http::Response> res;
    http::handle_request_async(req, ctx_, [&](http::Reply&& r) { res = std::get<http::Response>(std::move(r)); });
    answered_inline = res.has_value();
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!res && std::chrono::steady_clock::now() < give_up) io.run_one_for(std::chrono::milliseconds(20));
    return res.value_or(http::Response{});
  };
  const ClaimedDelivery& d = local_[1];
  bool inline_answer = true;
  auto res = call_async(hook("kannel-local", d.token, "status=1"), inline_answer);
  EXPECT_FALSE(inline_answer);  // it waited for the writer
  ASSERT_EQ(res.result(), bhttp::status::ok) << res.body();
  EXPECT_EQ(body(res), answer(d.id, true, S::delivered));
  EXPECT_EQ(test::RawDb(tmp_.file("herald.db")).text("SELECT state FROM deliveries WHERE id = " + std::to_string(d.id)),
            "delivered");

  // Unknown token, the wrong gateway's token, a malformed report: refused, nothing written.
  const std::string before = snapshot();
  res = call_async(hook("kannel-local", std::string(32, 'a'), "status=1"), inline_answer);
  EXPECT_EQ(res.result(), bhttp::status::not_found);
  res = call_async(hook("kannel-backup", local_[2].token, "status=1"), inline_answer);
  EXPECT_EQ(res.result(), bhttp::status::not_found);
  res = call_async(hook("kannel-local", local_[2].token, "status=99"), inline_answer);
  EXPECT_EQ(res.result(), bhttp::status::bad_request);
  // Settled by the path alone: answered before returning.
  res = call_async(hook("kannel-local", "short", "status=1"), inline_answer);
  EXPECT_TRUE(inline_answer);
  EXPECT_EQ(res.result(), bhttp::status::not_found);
  EXPECT_EQ(snapshot(), before);
  writer.stop();
  ctx_.writer = nullptr;
}

}  // namespace
}  // namespace herald
