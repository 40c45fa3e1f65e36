// JSON HTTP email gateway: the request a provider gets (the rendered email JSON-escaped
// into the configured template), its delivered / bounced webhooks, and the configuration
// the factory refuses. Cases are data in testdata/ next to this file.
#include "adapters/email/http_api/http_email.hpp"

#include <cstdlib>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "directive/directive.hpp"
#include "adapters/email/email_content.hpp"
#include "gateway_support.hpp"

namespace json = boost::json;

namespace herald {
namespace {

constexpr const char* kApiKey = "mail-api-key-31c7";

std::string testdata(const std::string& relative) {
  return test::source_path("adapters/email/http_api/testdata/" + relative);
}

std::shared_ptr<Gateway> gateway() {
  static std::shared_ptr<Gateway> built = [] {
    setenv("HERALD_TEST_MAIL_API_KEY", kApiKey, 1);
    auto g = test::gateway_from_yaml("mail-api", test::read_file(testdata("gateway.yaml")));
    unsetenv("HERALD_TEST_MAIL_API_KEY");
    return g;
  }();
  return built;
}

const Directive& seed() {
  static const Directive d = *parse_directive(test::seed_json()).directive;
  return d;
}

TEST(HttpEmail, RendersTheEmailIntoTheTemplate) {
  auto g = gateway();
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->channel(), Channel::email);
  OutboundMessage m;
  m.delivery_id = 12;
  m.token = "00112233445566778899aabbccddeeff";
  m.channel = Channel::email;
  m.address = "chutich@ubnd.chauthanh.example";
  m.recipient_name = "Nguyễn Văn \"Bình\"";
  m.receipt_url = "http://127.0.0.1:8080/hooks/email/mail-api/00112233445566778899aabbccddeeff";
  m.directive = &seed();
  ASSERT_FALSE(g->refuse(m).has_value());
  const net::HttpRequest req = g->build(m);
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.url, "https://api.mail.example.vn/v1/send");
  EXPECT_EQ(req.timeout_ms, 5000);
  EXPECT_EQ(req.headers, (std::vector<std::string>{"Authorization: Bearer mail-api-key-31c7",
                                                   "Idempotency-Key: 00112233445566778899aabbccddeeff",
                                                   "Content-Type: application/json; charset=utf-8", "Expect:"}));
  json::error_code ec;
  json::value body = json::parse(req.body, ec);
  ASSERT_FALSE(ec) << req.body;
  const EmailContent c = render_email(seed(), m.recipient_name);
  const json::value expected = {
      {"from", {{"email", "vanphong@huyenuy.chauthanh.example"}, {"name", "Văn phòng Huyện ủy Châu Thành"}}},
      {"reply_to", "vanthu@huyenuy.chauthanh.example"},
      {"to", json::array{{{"email", "chutich@ubnd.chauthanh.example"}, {"name", "Nguyễn Văn \"Bình\""}}}},
      {"subject", "[158-CV/HU] " + seed().subject},
      {"text", c.text},
      {"html", c.html},
      {"headers", {{"Message-ID", "<c0ee1f72e89363691622c81a313b9811@herald.chauthanh.example>"}}},
      {"webhook_url", m.receipt_url},
      {"custom_id", m.token},
      {"delivery", 12}};
  EXPECT_EQ(body, expected);
  EXPECT_NE(body.at("text").as_string().find(seed().body), std::string::npos);

  m.address = "+84912000101";
  ASSERT_TRUE(g->refuse(m).has_value());
  EXPECT_EQ(g->refuse(m)->code, "bad_address");
}

TEST(HttpEmail, ConfidentialDirectiveSendsOnlyANotice) {
  Directive d = seed();
  d.confidentiality = Confidentiality::toi_mat;
  OutboundMessage m;
  m.token = "00112233445566778899aabbccddeeff";
  m.address = "chutich@ubnd.chauthanh.example";
  m.directive = &d;
  const std::string body = gateway()->build(m).body;
  EXPECT_EQ(body.find("phòng, chống dịch"), std::string::npos) << body;
  EXPECT_NE(body.find("(Tối mật)"), std::string::npos) << body;
}

TEST(HttpEmail, MapsTheProviderAnswer) {
  auto g = gateway();
  net::HttpResponse ok;
  ok.status = 202;
  ok.body = R"({"status": "queued", "id": "m-77"})";
  SendResult r = g->parse(ok);
  EXPECT_TRUE(r.error.ok());
  EXPECT_EQ(r.provider_ref, "m-77");
  net::HttpResponse refused;
  refused.status = 401;
  refused.body = R"({"status": "error", "error": "bad key"})";
  r = g->parse(refused);
  EXPECT_EQ(r.error.kind, SendErrorKind::auth_failed);
  EXPECT_EQ(r.error.text, "bad key");
}

}  // namespace
}  // namespace herald
