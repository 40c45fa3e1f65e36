// Zalo OA and ZNS gateways: configuration from YAML, request in -> request out, answer ->
// outcome on the shared error set, token refresh, and the configuration refused. Cases
// are data in testdata/ next to this file.
#include "adapters/zalo/zalo.hpp"

#include <cstdlib>
#include <map>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "directive/directive.hpp"
#include "gateway_support.hpp"

namespace json = boost::json;

namespace herald {
namespace {

constexpr const char* kSecret = "zalo-oa-secret-5e1d";

std::string testdata(const std::string& relative) {
  return test::source_path("adapters/zalo/testdata/" + relative);
}

/// A fresh gateway from testdata/<file> (refresh cases change it).
std::shared_ptr<Gateway> gateway(const std::string& file) {
  setenv("HERALD_TEST_ZALO_SECRET", kSecret, 1);
  auto g = test::gateway_from_yaml("zalo", test::read_file(testdata(file)));
  unsetenv("HERALD_TEST_ZALO_SECRET");
  return g;
}

/// A valid directive with the case's fields over a fixed base.
Directive directive_from(const json::object& fields) {
  json::object d{{"schema", "herald.directive/v1"},
                 {"id", "hu-chauthanh/test"},
                 {"issuer", {{"code", "HU-CHAUTHANH"}, {"name", "Huyện ủy Châu Thành"}}},
                 {"issued_at", "2021-07-12T08:00:00+07:00"},
                 {"recipients", json::array{json::object{{"group", "ban-thuong-vu"}}}}};
  for (const auto& [k, v] : fields) d[k] = v;
  DirectiveParse p = parse_directive(json::serialize(d));
  EXPECT_TRUE(p.directive.has_value()) << p.summary();
  return p.directive.value_or(Directive{});
}

OutboundMessage message_from(const json::object& m, const Directive& d) {
  OutboundMessage out;
  out.delivery_id = m.at("delivery_id").to_number<int64_t>();
  out.token = test::str(m, "token");
  out.channel = Channel::zalo;
  out.address = test::str(m, "address");
  out.recipient_name = test::str(m, "recipient_name");
  out.receipt_url = test::str(m, "receipt_url");
  out.ack_url = test::str(m, "ack_url");
  out.directive = &d;
  return out;
}

auto case_name = [](const auto& info) { return test::test_name(info.param.name); };

// ---- configuration ------------------------------------------------------------------

TEST(Zalo, ReadsTheOaGatewayFromYaml) {
  auto g = gateway("oa.yaml");
  auto* z = dynamic_cast<ZaloOaGateway*>(g.get());
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(z->channel(), Channel::zalo);
  EXPECT_EQ(z->base_url, "https://openapi.zalo.me");  // trailing slash dropped
  EXPECT_EQ(z->oauth_url, "https://oauth.zaloapp.com");
  EXPECT_EQ(z->app_id, "4318129834957112345");
  EXPECT_EQ(z->secret_key.reveal(), kSecret);
  EXPECT_EQ(z->secret_key.source(), "env:HERALD_TEST_ZALO_SECRET");
  EXPECT_EQ(z->oa_secret_key.reveal(), "oa-webhook-key-1");
  EXPECT_EQ(z->access_token.reveal(), "oa-access-1");
  EXPECT_EQ(z->refresh_token.reveal(), "oa-refresh-1");
  EXPECT_EQ(z->webhook_tolerance_ms, 120000);
  EXPECT_EQ(z->limits().timeout_ms, 4000);
  EXPECT_EQ(z->limits().rate_per_s, 20);
}

TEST(Zalo, ReadsTheZnsGatewayFromYaml) {
  auto g = gateway("zns.yaml");
  auto* z = dynamic_cast<ZaloZnsGateway*>(g.get());
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(z->base_url, "https://business.openapi.zalo.me");
  EXPECT_EQ(z->oauth_url, "http://127.0.0.1:9099");
  EXPECT_EQ(z->template_id, "271828");
  EXPECT_EQ(z->template_data.size(), 7u);
  EXPECT_EQ(z->template_data.front(), (std::pair<std::string, std::string>{"so_van_ban", "number"}));
  EXPECT_TRUE(z->access_token.empty());
  EXPECT_TRUE(z->oa_secret_key.empty());  // optional: without it, no webhook events
  EXPECT_EQ(z->webhook_tolerance_ms, 300000);  // default: 5 min
}

// ---- request in -> request out --------------------------------------------------------

class ZaloBuild : public ::testing::TestWithParam<test::Case> {};

TEST_P(ZaloBuild, RequestOut) {
  const json::object& c = GetParam().data;
  auto g = gateway(test::str(c, "gateway"));
  ASSERT_NE(g, nullptr);
  const Directive d = directive_from(c.at("directive").as_object());
  const OutboundMessage m = message_from(c.at("message").as_object(), d);
  const json::object& e = c.at("expect").as_object();
  auto refused = g->refuse(m);
  if (auto* r = e.if_contains("refused")) {
    ASSERT_TRUE(refused.has_value());
    EXPECT_EQ(to_string(refused->kind), test::str(r->as_object(), "kind"));
    EXPECT_EQ(refused->code, test::str(r->as_object(), "code"));
    EXPECT_FALSE(refused->retryable());
    return;
  }
  ASSERT_FALSE(refused.has_value()) << refused->code;
  const net::HttpRequest req = g->build(m);
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.url, test::str(e, "url"));
  EXPECT_EQ(req.timeout_ms, e.at("timeout_ms").to_number<int64_t>());
  std::vector<std::string> headers;
  for (const auto& h : e.at("headers").as_array()) headers.emplace_back(h.as_string());
  EXPECT_EQ(req.headers, headers);
  json::error_code ec;
  json::value body = json::parse(req.body, ec);
  ASSERT_FALSE(ec) << ec.message() << "\n" << req.body;
  EXPECT_EQ(body, e.at("body")) << req.body;
}

INSTANTIATE_TEST_SUITE_P(Testdata, ZaloBuild, ::testing::ValuesIn(test::read_cases(testdata("build.json"))),
                         case_name);

size_t code_points(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

TEST(ZaloText, ALongBodyGivesWayToTheSummary) {
  std::string body;
  while (code_points(body) < 3000) body += "Đề nghị các cấp ủy thực hiện nghiêm. ";
  Directive d = directive_from({{"number", "158-CV/HU"}, {"subject", "Chủ đề"}, {"summary", "Tóm tắt ngắn"},
                                {"body", body}});
  std::string text = render_zalo_text(d, "", ZaloOaGateway::kMaxText);
  EXPECT_EQ(text, "Huyện ủy Châu Thành - văn bản số 158-CV/HU ngày 12/07/2021\nChủ đề\n\nTóm tắt ngắn");
}

TEST(ZaloText, ALongBodyWithoutSummaryIsShortenedToFit) {
  std::string body;
  while (code_points(body) < 3000) body += "Đề nghị các cấp ủy thực hiện nghiêm. ";
  Directive d = directive_from({{"number", "158-CV/HU"}, {"subject", "Chủ đề"}, {"body", body}});
  std::string text = render_zalo_text(d, "", ZaloOaGateway::kMaxText);
  EXPECT_LE(code_points(text), ZaloOaGateway::kMaxText);
  EXPECT_GT(code_points(text), ZaloOaGateway::kMaxText - 40);
  EXPECT_EQ(text.substr(text.size() - 3), "…");
  EXPECT_EQ(text.rfind("Huyện ủy Châu Thành - văn bản số 158-CV/HU", 0), 0u);
}

TEST(ZaloText, ABodyThatFitsExactlyIsKeptWhole) {
  Directive d = directive_from({{"number", "1-TB"}, {"subject", "S"}, {"body", "x"}});
  const std::string head = "Huyện ủy Châu Thành - văn bản số 1-TB ngày 12/07/2021\nS";
  const size_t room = ZaloOaGateway::kMaxText - code_points(head) - 2;
  Directive full = directive_from({{"number", "1-TB"}, {"subject", "S"}, {"body", std::string(room, 'a')}});
  EXPECT_EQ(render_zalo_text(full, "", ZaloOaGateway::kMaxText), head + "\n\n" + std::string(room, 'a'));
  Directive over = directive_from({{"number", "1-TB"}, {"subject", "S"}, {"body", std::string(room + 1, 'a')}});
  std::string text = render_zalo_text(over, "", ZaloOaGateway::kMaxText);
  EXPECT_EQ(code_points(text), ZaloOaGateway::kMaxText);
  (void)d;
}

TEST(ZaloPhone, OnlyVietnameseE164) {
  EXPECT_EQ(zalo_phone("+84912000126"), "84912000126");
  EXPECT_EQ(zalo_phone("84912000126"), "");
  EXPECT_EQ(zalo_phone("+6591234567"), "");
  EXPECT_EQ(zalo_phone("+84 912 000 126"), "");
  EXPECT_EQ(zalo_phone(""), "");
}

// ---- answer -> outcome ----------------------------------------------------------------

TEST(ZaloReceipt, PerDeliveryCallbacksAreRefused) {
  auto g = gateway("oa.yaml");
  ReceiptParse p = g->parse_receipt(InboundCallback{"POST", {}, "application/json", "{}", {}});
  EXPECT_FALSE(p.receipt.has_value());
  EXPECT_EQ(p.error, "Zalo events come to /hooks/zalo");
}

// ---- credentials ------------------------------------------------------------------------

TEST(ZaloRefresh, RequestShape) {
  auto g = gateway("oa.yaml");
  auto req = g->refresh_request();
  ASSERT_TRUE(req.has_value());
  EXPECT_EQ(req->method, "POST");
  EXPECT_EQ(req->url, "https://oauth.zaloapp.com/v4/oa/access_token");
  EXPECT_EQ(req->headers, (std::vector<std::string>{std::string("secret_key: ") + kSecret,
                                                    "Content-Type: application/x-www-form-urlencoded", "Expect:"}));
  EXPECT_EQ(req->body, "refresh_token=oa-refresh-1&app_id=4318129834957112345&grant_type=refresh_token");
  EXPECT_EQ(gateway("zns.yaml")->refresh_request()->url, "http://127.0.0.1:9099/v4/oa/access_token");
}

TEST(ZaloRefresh, NoRefreshTokenNoRefresh) {
  auto g = test::gateway_from_yaml("zalo", "type: zalo_oa\napp_id: '1'\nsecret_key: k\naccess_token: a\n");
  ASSERT_NE(g, nullptr);
  EXPECT_FALSE(g->refresh_request().has_value());
}

class ZaloRefreshAnswer : public ::testing::TestWithParam<test::Case> {};

TEST_P(ZaloRefreshAnswer, RotatesAndPersists) {
  const json::object& c = GetParam().data;
  auto g = gateway(test::str(c, "gateway"));
  ASSERT_NE(g, nullptr);
  std::map<std::string, std::string> persist;
  bool ok = g->apply_refresh(test::response_from(c.at("response").as_object()), persist);
  const json::object& e = c.at("expect").as_object();
  EXPECT_EQ(ok, e.at("ok").as_bool());
  std::map<std::string, std::string> want;
  for (const auto& [k, v] : e.at("persist").as_object()) want[std::string(k)] = std::string(v.as_string());
  EXPECT_EQ(persist, want);
  Directive d = directive_from({{"number", "1-TB"}, {"subject", "S"}});
  OutboundMessage m;
  m.address = "1000000000000001";
  m.directive = &d;
  EXPECT_EQ(g->build(m).headers.front(), test::str(e, "access_header"));
  EXPECT_EQ(g->refresh_request()->body, test::str(e, "next_refresh_body"));
}

INSTANTIATE_TEST_SUITE_P(Testdata, ZaloRefreshAnswer,
                         ::testing::ValuesIn(test::read_cases(testdata("refresh.json"))), case_name);

TEST(ZaloRefresh, RestorePrefersPersistedTokens) {
  auto g = gateway("oa.yaml");
  g->restore({});
  EXPECT_EQ(g->refresh_request()->body,
            "refresh_token=oa-refresh-1&app_id=4318129834957112345&grant_type=refresh_token");
  g->restore({{"refresh_token", "oa-refresh-7"}, {"access_token", "oa-access-7"}});
  EXPECT_EQ(g->refresh_request()->body,
            "refresh_token=oa-refresh-7&app_id=4318129834957112345&grant_type=refresh_token");
  OutboundMessage m;
  m.address = "1000000000000001";
  m.text = "x";
  EXPECT_EQ(g->build(m).headers.front(), "access_token: oa-access-7");
}

}  // namespace
}  // namespace herald
