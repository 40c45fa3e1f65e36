// http/zalo_hook: the OA webhook through handle_request, against a real SQLite store with
// Zalo deliveries claimed and accepted as the dispatcher does. Signed events move them
// forward once; unsigned, forged and stale ones get 401 and change nothing.
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "core/time.hpp"
#include "gateway_support.hpp"
#include "http/api.hpp"
#include "intake/intake.hpp"
#include "support.hpp"
#include "adapters/zalo/webhook.hpp"

namespace json = boost::json;

namespace herald {
namespace {

namespace bhttp = boost::beast::http;
using S = DeliveryState;

constexpr const char* kAppId = "4318129834957112345";
constexpr const char* kSecret = "oa-secret-hook-test";

class ZaloHookTest : public ::testing::Test {
 protected:
  ZaloHookTest()
      : dir_(test::example_directory()),
        config_(test::config_with(dir_)),
        store_(test::open_store(tmp_.file("herald.db"))),
        ctx_{*store_, metrics_, config_.http, [] { return true; }, &gateways_, {}, nullptr, {}, nullptr, {}, {}, {}, {}, nullptr} {}

  void SetUp() override {
    gateways_["zalo-oa"] = test::gateway_from_yaml("zalo-oa", std::string("type: zalo_oa\napp_id: '") + kAppId +
                                                                   "'\nsecret_key: app-secret\noa_secret_key: " + kSecret +
                                                                   "\naccess_token: a\n");
    ASSERT_NE(gateways_["zalo-oa"], nullptr);
    Intake intake(*store_, [this] { return dir_; }, config_, metrics_);
    ASSERT_EQ(intake.take(test::seed_json()).kind, IntakeResult::Kind::committed);
    claimed_ = store_->claim_due(Channel::zalo, "zalo-oa", now_ms() + 1000, 3);
    ASSERT_EQ(claimed_.size(), 3u);
    for (size_t i = 0; i < claimed_.size(); ++i)
      store_->transition(claimed_[i].id, {S::sent, Cause::gateway_accepted, "gateway:zalo-oa", "accepted",
                                          std::string(), {}, ref(i), {}});
  }

  static std::string ref(size_t i) { return "msg-" + std::to_string(i); }

  static std::string event(const std::string& name, const std::string& message, int64_t ts) {
    return R"({"app_id":")" + std::string(kAppId) + R"(","event_name":")" + name + R"(","message":)" + message +
           R"(,"timestamp":")" + std::to_string(ts) + R"("})";
  }
  static std::string mac(const std::string& body, int64_t ts, const std::string& secret = kSecret) {
    return "mac=" + zalo_event_mac(kAppId, body, std::to_string(ts), secret);
  }

  http::Response post(const std::string& body, const std::string& signature,
                      const std::string& target = "/hooks/zalo") {
    http::Request req{bhttp::verb::post, target, 11};
    req.set(bhttp::field::content_type, "application/json");
    if (!signature.empty()) req.set("X-ZEvent-Signature", signature);
    req.body() = body;
    req.prepare_payload();
    return http::handle_request(req, ctx_);
  }
  http::Response signed_event(const std::string& name, const std::string& message) {
    const int64_t ts = now_ms();
    const std::string body = event(name, message, ts);
    return post(body, mac(body, ts));
  }

  S state(int64_t id) { return store_->delivery(id)->state; }
  size_t event_count() { return store_->events(test::kSeedId).size(); }

  test::TempDir tmp_;
  std::shared_ptr<const Directory> dir_;
  Config config_;
  std::unique_ptr<Store> store_;
  Metrics metrics_;
  std::map<std::string, std::shared_ptr<Gateway>> gateways_;
  http::ApiContext ctx_;
  std::vector<ClaimedDelivery> claimed_;
};

TEST_F(ZaloHookTest, ReceivedThenSeenInBothForms) {
  auto res = signed_event("user_received_message", R"({"msg_id":"msg-0"})");
  ASSERT_EQ(res.result(), bhttp::status::ok) << res.body();
  EXPECT_EQ(json::parse(res.body()),
            json::parse(R"({"event":"user_received_message","results":[{"msg_id":"msg-0","delivery":)" +
                        std::to_string(claimed_[0].id) + R"(,"applied":true,"state":"delivered"}]})"));
  EXPECT_EQ(state(claimed_[0].id), S::delivered);

  res = signed_event("user_seen_message", R"({"msg_ids":["msg-0","msg-1"]})");
  ASSERT_EQ(res.result(), bhttp::status::ok) << res.body();
  EXPECT_EQ(state(claimed_[0].id), S::read);
  EXPECT_EQ(state(claimed_[1].id), S::read);

  res = signed_event("user_seen_message", R"({"msg_id":"msg-2"})");
  ASSERT_EQ(res.result(), bhttp::status::ok) << res.body();
  EXPECT_EQ(state(claimed_[2].id), S::read);
  auto events = store_->events(test::kSeedId);
  EXPECT_EQ(events.back().source, "receipt:zalo-oa");
  EXPECT_EQ(events.back().detail, "zalo user_seen_message msg_id msg-2");
}

TEST_F(ZaloHookTest, TheSameEventTwiceChangesStateOnce) {
  const int64_t ts = now_ms();
  const std::string body = event("user_received_message", R"({"msg_id":"msg-1"})", ts);
  ASSERT_EQ(post(body, mac(body, ts)).result(), bhttp::status::ok);
  const size_t events = event_count();
  auto again = post(body, mac(body, ts));
  ASSERT_EQ(again.result(), bhttp::status::ok);
  EXPECT_EQ(json::parse(again.body()).at("results").at(0).at("duplicate"), true);
  EXPECT_EQ(event_count(), events);
  EXPECT_EQ(state(claimed_[1].id), S::delivered);
}

TEST_F(ZaloHookTest, UnsignedForgedAndStaleEventsChangeNothing) {
  const size_t events = event_count();
  const int64_t now = now_ms();
  const std::string body = event("user_seen_message", R"({"msg_id":"msg-0"})", now);
  const std::string old = event("user_seen_message", R"({"msg_id":"msg-0"})", now - 6 * 60 * 1000);
  const std::string future = event("user_seen_message", R"({"msg_id":"msg-0"})", now + 6 * 60 * 1000);
  struct Case {
    const char* what;
    std::string body, signature, error;
  } cases[] = {
      {"unsigned", body, "", "signature missing"},
      {"not mac=", body, zalo_event_mac(kAppId, body, std::to_string(now), kSecret), "signature missing"},
      {"forged", body, mac(body, now, "guessed"), "signature forged"},
      {"signed with the app secret, not the OA's", body, mac(body, now, "app-secret"), "signature forged"},
      {"tampered", event("user_seen_message", R"({"msg_id":"msg-1"})", now), mac(body, now), "signature forged"},
      {"stale", old, mac(old, now - 6 * 60 * 1000), "signature stale"},
      {"future", future, mac(future, now + 6 * 60 * 1000), "signature stale"},
      {"no timestamp", R"({"event_name":"user_seen_message"})", "mac=00", "event has no timestamp"},
  };
  for (const auto& c : cases) {
    auto res = post(c.body, c.signature);
    EXPECT_EQ(res.result(), bhttp::status::unauthorized) << c.what;
    EXPECT_EQ(json::parse(res.body()).at("error"), c.error.c_str()) << c.what;
  }
  EXPECT_EQ(event_count(), events);
  EXPECT_EQ(state(claimed_[0].id), S::sent);
  EXPECT_EQ(metrics_.receipts_rejected.load(), std::size(cases));
}

TEST_F(ZaloHookTest, UnknownMessagesAndOtherEventsAreAnsweredAndIgnored) {
  const size_t events = event_count();
  auto res = signed_event("user_seen_message", R"({"msg_id":"nobody"})");
  ASSERT_EQ(res.result(), bhttp::status::ok);
  EXPECT_EQ(json::parse(res.body()).at("results").at(0).at("unknown"), true);
  res = signed_event("user_send_text", R"({"msg_id":"m9","text":"OK 158"})");
  ASSERT_EQ(res.result(), bhttp::status::ok);
  EXPECT_EQ(json::parse(res.body()).at("ignored"), true);
  EXPECT_EQ(event_count(), events);
}

TEST_F(ZaloHookTest, OnlyPostAndOnlyWithAZaloGateway) {
  http::Request get{bhttp::verb::get, "/hooks/zalo", 11};
  EXPECT_EQ(http::handle_request(get, ctx_).result(), bhttp::status::method_not_allowed);
  // A gateway without oa_secret_key cannot check signatures: it takes no events.
  gateways_["zalo-oa"] = test::gateway_from_yaml("zalo-oa", "type: zalo_oa\napp_id: '1'\nsecret_key: k\naccess_token: a\n");
  EXPECT_EQ(signed_event("user_seen_message", R"({"msg_id":"msg-0"})").result(), bhttp::status::not_found);
  gateways_.clear();
  EXPECT_EQ(signed_event("user_seen_message", R"({"msg_id":"msg-0"})").result(), bhttp::status::not_found);
}

TEST(ZaloStore, DeliveryByProviderRefIsPerGateway) {
  test::TempDir tmp;
  auto dir = test::example_directory();
  Config config = test::config_with(dir);
  auto store = test::open_store(tmp.file("herald.db"));
  Metrics metrics;
  Intake intake(*store, [&] { return dir; }, config, metrics);
  ASSERT_EQ(intake.take(test::seed_json()).kind, IntakeResult::Kind::committed);
  auto a = store->claim_due(Channel::zalo, "zalo-a", now_ms() + 1000, 1);
  auto b = store->claim_due(Channel::zalo, "zalo-b", now_ms() + 1000, 1);
  ASSERT_EQ(a.size() + b.size(), 2u);
  store->transition(a[0].id, {S::sent, Cause::gateway_accepted, "g", "", {}, {}, std::string("same"), {}});
  store->transition(b[0].id, {S::sent, Cause::gateway_accepted, "g", "", {}, {}, std::string("same"), {}});
  EXPECT_EQ(store->delivery_by_provider_ref("zalo-a", "same")->id, a[0].id);
  EXPECT_EQ(store->delivery_by_provider_ref("zalo-b", "same")->id, b[0].id);
  EXPECT_FALSE(store->delivery_by_provider_ref("zalo-c", "same").has_value());
  EXPECT_FALSE(store->delivery_by_provider_ref("zalo-a", "").has_value());

  TransitionRequest t{S::delivered, Cause::receipt, "receipt:zalo-a", "d", {}, {}, {}, {}};
  auto first = store->apply_receipt(a[0].id, t, "zalo:user_received_message:same");
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(first->applied);
  EXPECT_FALSE(store->apply_receipt(a[0].id, t, "zalo:user_received_message:same").has_value());
  // Another event for the same message is its own.
  t.to = S::read;
  EXPECT_TRUE(store->apply_receipt(a[0].id, t, "zalo:user_seen_message:same").has_value());
}

}  // namespace
}  // namespace herald
