// http/api: handle_request over a real store, with requests built by hand.
#include "http/api.hpp"
#include "http/server.hpp"

#include <cstdlib>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "intake/intake.hpp"
#include "support.hpp"

namespace json = boost::json;

namespace herald {
namespace {

namespace bhttp = boost::beast::http;

constexpr const char* kToken = "tok-3f9a1c7e5b2d4086-admin";
constexpr const char* kPassword = "amqp-pw-71c2e9d04b";
constexpr const char* kEncodedSeed = "hu-chauthanh%2F158-CV%2FHU%2F2021";

class ApiTest : public ::testing::Test {
 protected:
  ApiTest()
      : dir_(test::example_directory()),
        config_(test::config_with(dir_)),
        store_(test::open_store(tmp_.file("herald.db"))),
        ctx_{*store_, metrics_, config_.http, [this] { return broker_up_; }, nullptr, {}, nullptr, {}, nullptr, {}, {}, {}, {}, nullptr} {
    config_.broker.password = Secret(kPassword, "env:HERALD_AMQP_PASSWORD");
    config_.http.admin_tokens.push_back({"office", Role::operator_, Secret(kToken, "env:X")});
  }

  void SetUp() override {
    Intake intake(*store_, [this] { return dir_; }, config_, metrics_);
    ASSERT_EQ(intake.take(test::seed_json()).kind, IntakeResult::Kind::committed);
  }

  http::Response get(const std::string& target, const char* auth = nullptr,
                     bhttp::verb verb = bhttp::verb::get) {
    http::Request req{verb, target, 11};
    if (auth) req.set(bhttp::field::authorization, auth);
    http::Response res = http::handle_request(req, ctx_);
    bodies_.push_back(res.body());
    for (const auto& f : res) bodies_.push_back(std::string(f.value()));
    return res;
  }
  http::Response admin(const std::string& target) {
    return get(target, (std::string("Bearer ") + kToken).c_str());
  }
  static json::value body(const http::Response& res) { return json::parse(res.body()); }

  test::TempDir tmp_;
  std::shared_ptr<const Directory> dir_;
  Config config_;
  std::unique_ptr<Store> store_;
  Metrics metrics_;
  bool broker_up_ = true;
  http::ApiContext ctx_;
  std::vector<std::string> bodies_;  // every body and header value answered
};

TEST_F(ApiTest, Healthz) {
  auto res = get("/healthz");
  EXPECT_EQ(res.result(), bhttp::status::ok);
  EXPECT_EQ(res.body(), "ok\n");
  EXPECT_EQ(res[bhttp::field::content_type], "text/plain");
  EXPECT_EQ(res[bhttp::field::cache_control], "no-store");
}

TEST_F(ApiTest, ReadyzFollowsTheBroker) {
  auto up = get("/readyz");
  EXPECT_EQ(up.result(), bhttp::status::ok);
  EXPECT_EQ(body(up), json::parse(R"({"ready": true, "broker": true, "store": true})"));
  broker_up_ = false;
  auto down = get("/readyz");
  EXPECT_EQ(down.result(), bhttp::status::service_unavailable);
  EXPECT_EQ(body(down), json::parse(R"({"ready": false, "broker": false, "store": true})"));
}

TEST_F(ApiTest, MetricsInPrometheusText) {
  metrics_.broker_connected = true;
  auto res = get("/metrics");
  EXPECT_EQ(res.result(), bhttp::status::ok);
  EXPECT_EQ(res[bhttp::field::content_type], "text/plain; version=0.0.4");
  const std::string& m = res.body();
  for (const char* line : {
           "# TYPE herald_directives_received_total counter\n",
           "\nherald_directives_received_total 1\n",
           "\nherald_directives_created_total 1\n",
           "\nherald_directives_duplicate_total 0\n",
           "\nherald_directives_rejected_total{reason=\"invalid\"} 0\n",
           "\nherald_directives_rejected_total{reason=\"unresolved\"} 0\n",
           "\nherald_deliveries_planned_total 92\n",
           "\nherald_broker_connected 1\n",
           "# TYPE herald_deliveries gauge\n",
           "\nherald_deliveries{channel=\"sms\",state=\"queued\"} 37\n",
           "\nherald_deliveries{channel=\"zalo\",state=\"queued\"} 25\n",
           "\nherald_deliveries{channel=\"email\",state=\"queued\"} 30\n",
           "\nherald_directives 1\n"})
    EXPECT_NE(m.find(line), std::string::npos) << "missing: " << line << "\nin:\n" << m;
  // One HELP/TYPE per metric family, even with two label sets.
  size_t types = 0;
  for (size_t p = 0; (p = m.find("# TYPE herald_directives_rejected_total ", p)) != std::string::npos; ++p)
    ++types;
  EXPECT_EQ(types, 1u);
}

TEST_F(ApiTest, FailedLoginsAreLoggedAndAnAddressThatKeepsGuessingIsShutOut) {
  auto from = [&](const std::string& peer, const std::string& token) {
    http::Request req{bhttp::verb::get, "/api/v1/directives", 11};
    req.set(bhttp::field::authorization, "Bearer " + token);
    req.set(http::kPeerHeader, peer);
    return http::handle_request(req, ctx_);
  };
  testing::internal::CaptureStderr();
  for (int i = 0; i < http::LoginThrottle::kMaxFailures; ++i)
    EXPECT_EQ(from("203.0.113.7", "guess-" + std::to_string(i)).result(), bhttp::status::unauthorized);
  // Shut out, even with the right token, for a minute.
  auto res = from("203.0.113.7", kToken);
  EXPECT_EQ(res.result(), bhttp::status::too_many_requests);
  EXPECT_EQ(res[bhttp::field::retry_after], "60");
  // Another address is not.
  EXPECT_EQ(from("198.51.100.2", kToken).result(), bhttp::status::ok);
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("admin login refused from 203.0.113.7 (1 in the last minute)"), std::string::npos) << log;
  EXPECT_NE(log.find("(10 in the last minute; shut out for a minute)"), std::string::npos) << log;
  EXPECT_EQ(log.find("guess-"), std::string::npos) << "what was tried is not logged";
}

TEST_F(ApiTest, AdminApiNeedsTheBearerToken) {
  for (const char* auth : {static_cast<const char*>(nullptr), "Bearer wrong-token-0000000000",
                           "Bearer ", "bearer tok-3f9a1c7e5b2d4086-admin",
                           "Basic dG9rLTNmOWExYzdlNWIyZDQwODYtYWRtaW4=",
                           "Bearer tok-3f9a1c7e5b2d4086-admi"}) {
    auto res = get("/api/v1/directives", auth);
    EXPECT_EQ(res.result(), bhttp::status::unauthorized) << (auth ? auth : "(none)");
    EXPECT_EQ(res[bhttp::field::www_authenticate], "Bearer realm=\"herald\"");
    EXPECT_EQ(body(res), json::parse(R"({"error": "missing or invalid bearer token"})"));
  }
  // Unauthenticated requests learn nothing about what exists.
  EXPECT_EQ(get(std::string("/api/v1/directives/") + kEncodedSeed).result(),
            bhttp::status::unauthorized);
  EXPECT_EQ(get("/api/v1/nothing").result(), bhttp::status::unauthorized);
}

TEST_F(ApiTest, ListsDirectives) {
  auto res = admin("/api/v1/directives");
  ASSERT_EQ(res.result(), bhttp::status::ok);
  const json::value all = body(res);
  const json::array& list = all.at("directives").as_array();
  ASSERT_EQ(list.size(), 1u);
  const json::object& d = list[0].as_object();
  EXPECT_EQ(d.at("id"), test::kSeedId);
  EXPECT_EQ(d.at("number"), "158-CV/HU");
  EXPECT_EQ(d.at("issuer"), json::parse(R"({"code": "HU-CHAUTHANH", "name": "Huyện ủy Châu Thành"})"));
  EXPECT_EQ(d.at("urgency"), "khan");
  EXPECT_EQ(d.at("issued_at"), "2021-07-12T08:00:00+07:00");
  EXPECT_EQ(d.at("deliveries"), 92);
  EXPECT_TRUE(d.at("received_at").as_string().ends_with("Z"));
  EXPECT_TRUE(body(admin("/api/v1/directives?limit=10&offset=1")).at("directives").as_array().empty());
  EXPECT_EQ(body(admin("/api/v1/directives?limit=oops")).at("directives").as_array().size(), 1u);
}

TEST_F(ApiTest, DirectiveByEncodedIdHasCountsByChannelAndState) {
  auto res = admin(std::string("/api/v1/directives/") + kEncodedSeed);
  ASSERT_EQ(res.result(), bhttp::status::ok) << res.body();
  json::value d = body(res);
  EXPECT_EQ(d.at("id"), test::kSeedId);
  EXPECT_EQ(d.at("counts"), json::parse(R"({"email": {"queued": 30}, "sms": {"queued": 37},
                                             "zalo": {"queued": 25}})"));
  EXPECT_EQ(d.at("states"), json::parse(R"({"queued": 92})"));
  // The id written with plain slashes reaches the same directive.
  auto plain = admin(std::string("/api/v1/directives/") + test::kSeedId);
  ASSERT_EQ(plain.result(), bhttp::status::ok) << plain.body();
  EXPECT_EQ(plain.body(), res.body());
}

TEST_F(ApiTest, DeliveriesAndEvents) {
  auto res = admin(std::string("/api/v1/directives/") + kEncodedSeed + "/deliveries");
  ASSERT_EQ(res.result(), bhttp::status::ok) << res.body();
  const json::value all = body(res);
  const json::array& list = all.at("deliveries").as_array();
  ASSERT_EQ(list.size(), 92u);
  const json::object* chair = nullptr;
  for (const auto& v : list)
    if (v.at("recipient").at("id") == "ct-ubnd-an-hiep" && v.at("channel") == "sms")
      chair = &v.as_object();
  ASSERT_NE(chair, nullptr);
  EXPECT_EQ(chair->at("address"), "+84912000126");
  EXPECT_EQ(chair->at("state"), "queued");
  EXPECT_EQ(chair->at("attempts"), 0);
  EXPECT_TRUE(chair->at("error").is_null());
  EXPECT_EQ(chair->at("recipient"),
            json::parse(R"j({"kind": "person", "id": "ct-ubnd-an-hiep", "name": "Lê Văn Phước (giả định)"})j"));

  auto ev = admin(std::string("/api/v1/directives/") + kEncodedSeed + "/events");
  ASSERT_EQ(ev.result(), bhttp::status::ok) << ev.body();
  const json::value all_events = body(ev);
  const json::array& events = all_events.at("events").as_array();
  ASSERT_EQ(events.size(), 93u);
  EXPECT_EQ(events[0].at("from"), "");
  EXPECT_EQ(events[0].at("to"), "queued");
  EXPECT_EQ(events[0].at("source"), "intake");
  EXPECT_TRUE(events[0].at("delivery_id").is_int64());
  EXPECT_TRUE(events[92].at("delivery_id").is_null());
  EXPECT_EQ(events[92].at("to"), "received");
  EXPECT_EQ(events[92].at("detail"), "92 deliveries");
}

TEST_F(ApiTest, UnknownThings) {
  auto res = admin("/api/v1/directives/hu-chauthanh%2F999-CV%2FHU%2F2021");
  EXPECT_EQ(res.result(), bhttp::status::not_found);
  EXPECT_EQ(body(res), json::parse(R"({"error": "no directive with id hu-chauthanh/999-CV/HU/2021"})"));
  EXPECT_EQ(admin("/api/v1/directives/nope/deliveries").result(), bhttp::status::not_found);
  EXPECT_EQ(admin("/api/v1/receipts").result(), bhttp::status::not_found);
  EXPECT_EQ(get("/nothing").result(), bhttp::status::not_found);
  EXPECT_EQ(get("/healthz", nullptr, bhttp::verb::post).result(), bhttp::status::method_not_allowed);
  EXPECT_EQ(get("/api/v1/directives", (std::string("Bearer ") + kToken).c_str(), bhttp::verb::delete_)
                .result(),
            bhttp::status::method_not_allowed);
}

TEST_F(ApiTest, SecretsNeverAppearInAnswers) {
  metrics_.broker_connected = true;
  get("/healthz");
  get("/readyz");
  get("/metrics");
  get("/api/v1/directives");
  get("/api/v1/directives", "Bearer not-the-token-000000000");
  admin("/api/v1/directives");
  admin(std::string("/api/v1/directives/") + kEncodedSeed);
  admin(std::string("/api/v1/directives/") + kEncodedSeed + "/deliveries");
  admin(std::string("/api/v1/directives/") + kEncodedSeed + "/events");
  admin("/api/v1/directives/nope");
  admin("/api/v1/nothing");
  ASSERT_GT(bodies_.size(), 20u);
  for (const auto& b : bodies_) {
    EXPECT_EQ(b.find(kToken), std::string::npos) << b.substr(0, 200);
    EXPECT_EQ(b.find(kPassword), std::string::npos) << b.substr(0, 200);
  }
}

}  // namespace
}  // namespace herald

namespace herald {
namespace {

TEST(ConnectionCap, LeavesRoomForSendsBrokerAndStoreBelowTheDescriptorLimit) {
  // ulimit -n 1024 with three gateways of 16 in flight: 1024 - (64 + 48).
  EXPECT_EQ(http::connection_cap(1024, 1024, 112), 912);
  // A limit with room to spare (LimitNOFILE=65536) keeps the configured cap.
  EXPECT_EQ(http::connection_cap(1024, 65536, 112), 1024);
  EXPECT_EQ(http::connection_cap(1024, 1024 + 112, 112), 1024);
  // Unknown or unlimited: as configured.
  EXPECT_EQ(http::connection_cap(500, 0, 112), 500);
  // A tiny limit still leaves a few connections rather than none.
  EXPECT_EQ(http::connection_cap(1024, 100, 112), 16);
}

}  // namespace
}  // namespace herald
