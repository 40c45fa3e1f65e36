// Redaction: a gateway's configured secrets (Kannel's password, an HTTP JSON gateway's
// API keys) go to the provider and nowhere else. heraldd's pieces run for real: intake,
// the dispatcher sending through libcurl on Asio, and the HTTP API; whatever they write to
// stderr (core/log) and whatever the API answers is searched for the secrets.
#include <array>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <sstream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

#include "settings/redact.hpp"
#include "core/log.hpp"
#include "dispatch/dispatcher.hpp"
#include "gateway_support.hpp"
#include "http/api.hpp"
#include "intake/intake.hpp"
#include "net/curl_multi.hpp"
#include "net/url.hpp"
#include "raw_db.hpp"
#include "support.hpp"

namespace herald {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

constexpr const char* kKannelPassword = "kN4nnel-S3cret&pw=7f2c";
constexpr const char* kApiKey = "vn-api-K3y-93e1f0";
constexpr const char* kUrlKey = "url-k3y-55aa0c";
constexpr const char* kAdminToken = "admin-tok-redaction-0001";

/// An SMS provider on a loopback port that refuses every number (HTTP 400, code 789)
/// and keeps each request it was sent. With `echo`, its error message quotes the request
/// line and the Authorization header it got, as some providers' (and proxies') errors do.
class FakeProvider {
 public:
  explicit FakeProvider(asio::io_context& io, bool echo = false)
      : acceptor_(io, {asio::ip::make_address("127.0.0.1"), 0}), echo_(echo) {
    accept();
  }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  const std::vector<std::string>& requests() const { return requests_; }

 private:
  struct Session : std::enable_shared_from_this<Session> {
    Session(tcp::socket s, FakeProvider& p) : socket(std::move(s)), owner(p) {}
    void read() {
      req = {};
      bhttp::async_read(socket, buffer, req, [self = shared_from_this()](beast::error_code ec, size_t) {
        if (ec) return;
        std::ostringstream text;
        text << self->req;
        self->owner.requests_.push_back(text.str());
        self->respond();
      });
    }
    void respond() {
      res = {bhttp::status::bad_request, 11};
      res.set(bhttp::field::content_type, "application/json");
      res.body() = R"({"CodeResult": "789", "ErrorMessage": "Số điện thoại không hợp lệ"})";
      if (owner.echo_) {
        std::string quoted = "cannot route " + std::string(req.method_string()) + " " + std::string(req.target());
        if (auto a = req.find(bhttp::field::authorization); a != req.end())
          quoted += " (Authorization: " + std::string(a->value()) + ")";
        res.body() = boost::json::serialize(boost::json::object{{"CodeResult", "789"}, {"ErrorMessage", quoted}});
      }
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      bhttp::async_write(socket, res, [self = shared_from_this()](beast::error_code ec, size_t) {
        if (!ec) self->read();
      });
    }
    tcp::socket socket;
    FakeProvider& owner;
    beast::flat_buffer buffer;
    bhttp::request<bhttp::string_body> req;
    bhttp::response<bhttp::string_body> res;
  };

  void accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket s) {
      if (ec) return;
      std::make_shared<Session>(std::move(s), *this)->read();
      accept();
    });
  }

  tcp::acceptor acceptor_;
  bool echo_;
  std::vector<std::string> requests_;
};

struct Outcome {
  bool settled = false;           // every SMS delivery reached a final state
  std::string log;                // all heraldd wrote to stderr meanwhile
  std::vector<std::string> answers;  // every body and header value the HTTP API gave
  std::vector<std::string> provider_requests;
};

class RedactionTest : public ::testing::Test {
 protected:
  RedactionTest()
      : dir_(test::example_directory()),
        config_(test::config_with(dir_)),
        store_(test::open_store(tmp_.file("herald.db"))) {
    config_.dispatch.max_attempts = 2;
    config_.dispatch.backoff_initial_ms = 1;
    config_.dispatch.backoff_max_ms = 2;
    config_.dispatch.poll_interval_ms = 20;
    config_.dispatch.public_url = "http://127.0.0.1:8080";
    config_.http.admin_tokens.push_back({"office", Role::operator_, Secret(kAdminToken, "env:X")});
  }

  bool sms_settled() {
    for (const auto& c : store_->delivery_counts())
      if (c.channel == Channel::sms && c.count > 0 &&
          (c.state == DeliveryState::queued || c.state == DeliveryState::retrying ||
           c.state == DeliveryState::sending))
        return false;
    return true;
  }

  /// With stderr captured: builds the gateway (given the fake provider's port), takes in
  /// the seed directive, dispatches its SMS until each is settled, then asks the HTTP API
  /// everything it answers.
  Outcome run(const std::function<std::shared_ptr<Gateway>(unsigned short)>& make) {
    Outcome out;
    testing::internal::CaptureStderr();
    log::set_min_level(log::Level::debug);
    {
      asio::io_context io;
      FakeProvider provider(io, echoing_provider_);
      auto gateway = make(provider.port());
      if (gateway) {
        gateways_[gateway->name()] = gateway;
        config_.channels[Channel::sms].gateway = gateway->name();
        Intake intake(*store_, [this] { return dir_; }, config_, metrics_);
        net::CurlMulti curl(io);
        StoreWriter writer(*store_, io);
        Dispatcher dispatcher(io, *store_, writer, curl, config_, gateways_, metrics_);
        intake.on_committed([&] { dispatcher.kick(); });
        dispatcher.start();
        // The seed's deadline (2021) has passed, and a retry after it would be pointless:
        // move it so that failed sends are retried (and logged as such).
        boost::json::object seed = boost::json::parse(test::seed_json()).as_object();
        seed["ack"].as_object()["deadline"] = "2099-07-13T17:00:00+07:00";
        EXPECT_EQ(intake.take(boost::json::serialize(seed)).kind, IntakeResult::Kind::committed);
        // A bound so that a broken dispatcher fails the test instead of hanging it.
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (!sms_settled() && std::chrono::steady_clock::now() < give_up)
          io.run_one_for(std::chrono::milliseconds(50));
        out.settled = sms_settled();
        out.answers = ask_everything([&] { return dispatcher.metrics_text(); });
        dispatcher.stop();
        out.provider_requests = provider.requests();
      }
    }
    log::set_min_level(log::Level::info);
    out.log = testing::internal::GetCapturedStderr();
    return out;
  }

  std::vector<std::string> ask_everything(std::function<std::string()> extra_metrics) {
    http::ApiContext ctx{*store_, metrics_, config_.http, [] { return true; }, &gateways_,
                         std::move(extra_metrics), nullptr, {}, nullptr, {}, {}, {}, {}, nullptr};
    const std::string gateway = config_.channels[Channel::sms].gateway;
    const std::string token = test::RawDb(tmp_.file("herald.db"))
                                  .text("SELECT token FROM deliveries WHERE channel = 'sms' LIMIT 1");
    const std::string bearer = std::string("Bearer ") + kAdminToken;
    const std::string id = "hu-chauthanh%2F158-CV%2FHU%2F2021";
    std::vector<std::string> out;
    auto ask = [&](const std::string& target, const std::string& auth = {},
                   bhttp::verb verb = bhttp::verb::get, const std::string& body = {}) {
      http::Request req{verb, target, 11};
      if (!auth.empty()) req.set(bhttp::field::authorization, auth);
      if (!body.empty()) req.set(bhttp::field::content_type, "application/json");
      req.body() = body;
      req.prepare_payload();
      http::Response res = http::handle_request(req, ctx);
      out.push_back(res.body());
      for (const auto& f : res) out.push_back(std::string(f.value()));
      return res;
    };
    ask("/healthz");
    ask("/readyz");
    EXPECT_NE(ask("/metrics").body().find("herald_gateway_in_flight{gateway=\"" + gateway + "\"}"),
              std::string::npos);
    ask("/api/v1/directives");
    ask("/api/v1/directives", "Bearer wrong");
    ask("/api/v1/directives", bearer);
    ask("/api/v1/directives/" + id, bearer);
    EXPECT_EQ(ask("/api/v1/directives/" + id + "/deliveries", bearer).result(), bhttp::status::ok);
    EXPECT_EQ(ask("/api/v1/directives/" + id + "/events", bearer).result(), bhttp::status::ok);
    ask("/api/v1/gateways", bearer);
    ask("/api/v1/gateways/" + gateway, bearer);
    ask("/hooks/sms/" + gateway + "/" + token + "?status=bogus");
    ask("/hooks/sms/" + gateway + "/" + token, {}, bhttp::verb::post, "{\"x\": 1}");
    ask("/hooks/sms/" + gateway + "/" + token + "?status=99");
    ask("/hooks/sms/" + gateway + "/ffffffffffffffffffffffffffffffff?status=1");
    ask("/hooks/sms/" + gateway + "/" + token + "?status=1&stat=1");
    return out;
  }

  /// Each secret as configured and as it would look in a URL.
  static std::vector<std::string> forms(const std::vector<std::string>& secrets) {
    std::vector<std::string> out;
    for (const auto& s : secrets) {
      out.push_back(s);
      out.push_back(net::percent_encode(s));
    }
    return out;
  }

  static void expect_nowhere(const Outcome& r, const std::vector<std::string>& secrets) {
    ASSERT_GT(r.answers.size(), 30u);
    for (const auto& s : forms(secrets)) {
      EXPECT_EQ(r.log.find(s), std::string::npos) << "secret " << s << " in the log:\n" << r.log;
      for (const auto& a : r.answers)
        EXPECT_EQ(a.find(s), std::string::npos) << "secret " << s << " in an answer:\n" << a.substr(0, 500);
    }
  }

  bool echoing_provider_ = false;
  test::TempDir tmp_;
  std::shared_ptr<const Directory> dir_;
  Config config_;
  std::unique_ptr<Store> store_;
  Metrics metrics_;
  Gateways gateways_;
};

TEST_F(RedactionTest, KannelPasswordNeverLeavesForTheLogOrTheApi) {
  setenv("HERALD_TEST_REDACTION_KANNEL_PW", kKannelPassword, 1);
  const Outcome r = run([](unsigned short) {
    // Nothing listens on port 1: every send fails to connect, is retried once and given
    // up, and the breaker opens on the way; each of those is logged.
    return test::gateway_from_yaml("kannel-local", R"(type: kannel
sendsms_url: http://127.0.0.1:1/cgi-bin/sendsms
username: herald
password: env:HERALD_TEST_REDACTION_KANNEL_PW
breaker: {failures: 3, cooldown: 5ms}
)");
  });
  unsetenv("HERALD_TEST_REDACTION_KANNEL_PW");
  ASSERT_TRUE(r.settled) << r.log;
  EXPECT_GE(metrics_.send_attempts, 2 * 37u);
  EXPECT_EQ(metrics_.send_failed, 37u);

  // The log did capture the dispatcher at work...
  EXPECT_NE(r.log.find("dispatching sms through gateway kannel-local"), std::string::npos) << r.log;
  EXPECT_NE(r.log.find(": connection_failed, retry 2 in "), std::string::npos) << r.log;
  EXPECT_NE(r.log.find("gateway kannel-local: circuit breaker open for 5 ms"), std::string::npos) << r.log;
  // ...and neither the password nor the sendsms URL that carries it.
  expect_nowhere(r, {kKannelPassword});
  EXPECT_EQ(r.log.find("password="), std::string::npos) << r.log;
  EXPECT_EQ(r.log.find("/cgi-bin/sendsms"), std::string::npos) << r.log;
  for (const auto& a : r.answers) EXPECT_EQ(a.find("password="), std::string::npos) << a.substr(0, 500);
}

TEST_F(RedactionTest, HttpJsonSecretsGoOnlyToTheProvider) {
  setenv("HERALD_TEST_REDACTION_API_KEY", kApiKey, 1);
  const Outcome r = run([](unsigned short port) {
    return test::gateway_from_yaml("sms-vn", "type: http_json\nurl: http://127.0.0.1:" + std::to_string(port) +
                                                 R"(/send?key={{secret.url_key}}
headers: {Authorization: "Bearer {{secret.api_key}}"}
secrets: {api_key: env:HERALD_TEST_REDACTION_API_KEY, url_key: )" +
                                                 kUrlKey + R"(}
body: '{"Phone": "{{to_national}}", "Content": "{{text}}", "SecretKey": "{{secret.api_key}}"}'
response: {success_pointer: /CodeResult, success_value: "100", error_pointer: /ErrorMessage,
           permanent_pointer: /CodeResult, permanent_values: ["789"]}
receipt: {status: /Status, map: {"1": delivered}}
)");
  });
  unsetenv("HERALD_TEST_REDACTION_API_KEY");
  ASSERT_TRUE(r.settled) << r.log;
  EXPECT_EQ(metrics_.send_failed, 37u);

  // The provider did get the secrets, in the URL, a header and the body...
  ASSERT_EQ(r.provider_requests.size(), 37u);
  for (const auto& req : r.provider_requests) {
    EXPECT_NE(req.find(std::string("POST /send?key=") + kUrlKey + " HTTP/1.1"), std::string::npos) << req;
    EXPECT_NE(req.find(std::string("Authorization: Bearer ") + kApiKey), std::string::npos) << req;
    EXPECT_NE(req.find(std::string("\"SecretKey\": \"") + kApiKey + "\""), std::string::npos) << req;
  }
  // ...the log shows its refusals...
  EXPECT_NE(r.log.find("failed permanently: provider_789 Số điện thoại không hợp lệ"), std::string::npos) << r.log;
  // ...and the secrets appear nowhere else.
  expect_nowhere(r, {kApiKey, kUrlKey});
}

TEST_F(RedactionTest, ProviderAnswersQuotingTheSecretsAreScrubbedBeforeTheLogAndTheApi) {
  // The provider's error quotes the request line (the key in the query) and the header it
  // got (the other key): heraldd logs that error, keeps it and shows it, scrubbed.
  constexpr const char* kHeaderKey = "echoed-header-K3y+/=9c1d";
  constexpr const char* kQueryKey = "echoed-query-k3y-2b7e44";
  setenv("HERALD_TEST_REDACTION_ECHO_KEY", kHeaderKey, 1);
  echoing_provider_ = true;
  const Outcome r = run([](unsigned short port) {
    return test::gateway_from_yaml("sms-echo", "type: http_json\nurl: http://127.0.0.1:" + std::to_string(port) +
                                                   R"(/send?key={{secret.url_key}}
headers: {Authorization: "Bearer {{secret.api_key}}"}
secrets: {api_key: env:HERALD_TEST_REDACTION_ECHO_KEY, url_key: )" +
                                                   kQueryKey + R"(}
body: '{"Phone": "{{to_national}}", "Content": "{{text}}"}'
response: {success_pointer: /CodeResult, success_value: "100", error_pointer: /ErrorMessage,
           permanent_pointer: /CodeResult, permanent_values: ["789"]}
receipt: {status: /Status, map: {"1": delivered}}
)");
  });
  unsetenv("HERALD_TEST_REDACTION_ECHO_KEY");
  ASSERT_TRUE(r.settled) << r.log;
  EXPECT_EQ(metrics_.send_failed, 37u);
  ASSERT_EQ(r.provider_requests.size(), 37u);
  // What the provider said is still there, with its secrets masked...
  EXPECT_NE(r.log.find("failed permanently: provider_789 cannot route POST /send?key=*** (Authorization: Bearer ***)"),
            std::string::npos) << r.log;
  const std::string error = test::RawDb(tmp_.file("herald.db"))
                                .text("SELECT error_text FROM deliveries WHERE channel = 'sms' LIMIT 1");
  EXPECT_EQ(error, "cannot route POST /send?key=*** (Authorization: Bearer ***)");
  // ...and the keys appear nowhere: not in the log, the store's error texts or the API.
  expect_nowhere(r, {kHeaderKey, kQueryKey});
}

TEST(RedactSecrets, EveryResolvedSecretInEachForm) {
  Secret s;
  std::string error;
  ASSERT_TRUE(resolve_secret("literal-s3cret/+=\"x", s, error)) << error;
  EXPECT_EQ(redact_secrets("a literal-s3cret/+=\"x b"), "a *** b");
  EXPECT_EQ(redact_secrets("?k=literal-s3cret%2F%2B%3D%22x&"), "?k=***&");
  EXPECT_EQ(redact_secrets("?k=literal-s3cret%2f%2b%3d%22x&"), "?k=***&");
  EXPECT_EQ(redact_secrets(R"({"k": "literal-s3cret/+=\"x"})"), R"({"k": "***"})");
  EXPECT_EQ(redact_secrets("twice literal-s3cret/+=\"xliteral-s3cret/+=\"x"), "twice ******");
  // A secret that contains another is masked whole.
  ASSERT_TRUE(resolve_secret("literal-s3cret/+=\"x-and-more", s, error));
  EXPECT_EQ(redact_secrets("literal-s3cret/+=\"x-and-more."), "***.");
  // Too short to be worth masking (it would garble ordinary text).
  ASSERT_TRUE(resolve_secret("short", s, error));
  EXPECT_EQ(redact_secrets("a short text"), "a short text");
  // Credentials a gateway is given later (Zalo's refresh) are masked too.
  auto zalo = test::gateway_from_yaml("zalo-oa", R"(type: zalo_oa
app_id: "4318129834957112345"
secret_key: zalo-app-secret-redact
refresh_token: zalo-refresh-redact-0
)");
  ASSERT_TRUE(zalo);
  net::HttpResponse refreshed;
  refreshed.status = 200;
  refreshed.body = R"({"access_token": "zalo-access-redact-1", "refresh_token": "zalo-refresh-redact-1", "expires_in": "90000"})";
  std::map<std::string, std::string> persist;
  ASSERT_TRUE(zalo->apply_refresh(refreshed, persist));
  EXPECT_EQ(redact_secrets("zalo-access-redact-1 zalo-refresh-redact-1"), "*** ***");
  zalo->restore({{"refresh_token", "zalo-refresh-redact-2"}});
  EXPECT_EQ(redact_secrets("zalo-refresh-redact-2"), "***");
}

}  // namespace
}  // namespace herald

namespace herald {
namespace {

TEST(LogLine, TextFromOutsideCannotForgeALine) {
  // A directive subject or an SMS reply with a newline and a journald priority in it.
  EXPECT_EQ(log::one_line("took in x/1 (Họp\n<3>error fake line)"), "took in x/1 (Họp\\n<3>error fake line)");
  EXPECT_EQ(log::one_line("a\rb\tc\x01" "d\x7f"), "a\\rb\\tc\\x01d\\x7f");
  EXPECT_EQ(log::one_line(std::string("nul\0here", 8)), "nul\\x00here");
  EXPECT_EQ(log::one_line("C:\\path\\n"), "C:\\\\path\\\\n") << "a literal backslash-n stays distinguishable";
  EXPECT_EQ(log::one_line("Thông báo số 158"), "Thông báo số 158");
}

}  // namespace
}  // namespace herald

namespace herald {
namespace {

constexpr size_t kFloodBytes = 8u << 20;

/// A provider whose answer never ends in size: its length announced or not (then it runs
/// on, 8 MiB, closed by the server).
net::HttpResponse fetch_from_a_flood(bool announce_length) {
  asio::io_context io;
  tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  auto chunk = std::make_shared<std::string>(64 * 1024, 'x');
  acceptor.async_accept([&, chunk](beast::error_code ec, tcp::socket s) {
    if (ec) return;
    auto sock = std::make_shared<tcp::socket>(std::move(s));
    auto head = std::make_shared<std::string>(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" +
        (announce_length ? "Content-Length: " + std::to_string(kFloodBytes) + "\r\n" : std::string("Connection: close\r\n")) +
        "\r\n");
    auto sent = std::make_shared<size_t>(0);
    // Each write's handler holds the loop; the loop holds itself only weakly (no cycle).
    auto more = std::make_shared<std::function<void()>>();
    std::weak_ptr<std::function<void()>> weak = more;
    *more = [sock, chunk, sent, weak] {
      auto self = weak.lock();
      if (!self || *sent >= kFloodBytes) return;
      asio::async_write(*sock, asio::buffer(*chunk), [sock, chunk, sent, self](beast::error_code e, size_t n) {
        *sent += n;
        if (!e) (*self)();  // else the client hung up: stop
      });
    };
    // Read the request first (enough to see its end), then answer.
    auto buf = std::make_shared<std::array<char, 4096>>();
    sock->async_read_some(asio::buffer(*buf), [sock, head, more, buf](beast::error_code e, size_t) {
      if (e) return;
      asio::async_write(*sock, asio::buffer(*head), [sock, head, more](beast::error_code e2, size_t) {
        if (!e2) (*more)();
      });
    });
  });
  net::CurlMulti curl(io);
  net::HttpResponse got;
  bool done = false;
  net::HttpRequest req;
  req.method = "POST";
  req.url = "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/send";
  req.body = "{}";
  req.timeout_ms = 20000;
  curl.perform(req, [&](net::HttpResponse&& r) {
    got = std::move(r);
    done = true;
  });
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!done && std::chrono::steady_clock::now() < give_up) io.run_one_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(done);
  return got;
}

TEST(ProviderAnswer, OneThatRunsOnIsCutAtTheCap) {
  for (bool announced : {true, false}) {
    net::HttpResponse r = fetch_from_a_flood(announced);
    EXPECT_NE(r.result, CURLE_OK) << (announced ? "announced" : "open-ended");
    EXPECT_LE(r.body.size(), net::kMaxResponseBytes);
    SendError e = transport_error(r);
    EXPECT_EQ(e.code, "response_too_large") << r.error;
    EXPECT_EQ(e.kind, SendErrorKind::unknown);
  }
}

}  // namespace
}  // namespace herald
