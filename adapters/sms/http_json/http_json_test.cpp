// Generic HTTP JSON gateway: configuration read from YAML, request in -> request out,
// answer -> outcome, callback -> state, and the configuration the factory refuses. The
// gateways and cases are data in testdata/ next to this file.
#include "adapters/sms/http_json/http_json.hpp"

#include <cctype>
#include <cstdlib>
#include <map>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "gateway_support.hpp"

namespace json = boost::json;

namespace herald {
namespace {

constexpr const char* kApiKey = "sms-api-key-9c4f";

std::string testdata(const std::string& relative) {
  return test::source_path("adapters/sms/http_json/testdata/" + relative);
}

/// The gateway described by testdata/<file>, built once.
std::shared_ptr<Gateway> gateway(const std::string& file) {
  static std::map<std::string, std::shared_ptr<Gateway>> built;
  if (auto it = built.find(file); it != built.end()) return it->second;
  setenv("HERALD_TEST_SMS_API_KEY", kApiKey, 1);
  auto g = test::gateway_from_yaml("sms-vn", test::read_file(testdata(file)));
  unsetenv("HERALD_TEST_SMS_API_KEY");
  built[file] = g;
  return g;
}

OutboundMessage message_from(const json::object& m) {
  OutboundMessage out;
  out.delivery_id = m.at("delivery_id").to_number<int64_t>();
  out.token = test::str(m, "token");
  out.address = test::str(m, "address");
  out.text = test::str(m, "text");
  out.coding = test::str(m, "coding") == "ucs2" ? SmsCoding::ucs2 : SmsCoding::gsm7;
  out.receipt_url = test::str(m, "receipt_url");
  return out;
}

auto case_name = [](const auto& info) { return test::test_name(info.param.name); };

// ---- configuration ------------------------------------------------------------------

TEST(HttpJson, ReadsTheGatewayFromYaml) {
  auto g = gateway("gateway.yaml");
  ASSERT_NE(g, nullptr);
  auto* h = dynamic_cast<HttpJsonGateway*>(g.get());
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->name(), "sms-vn");
  EXPECT_EQ(h->channel(), Channel::sms);
  EXPECT_EQ(h->receipt_query(), "");
  EXPECT_EQ(h->api.url, "https://sms.example.vn/v2/send?client={{secret.client_id}}");
  EXPECT_EQ(h->api.method, "POST");
  EXPECT_EQ(h->api.headers, (std::vector<std::pair<std::string, std::string>>{
                            {"Authorization", "Bearer {{secret.api_key}}"}, {"X-Request-Id", "{{token}}"}}));
  ASSERT_EQ(h->api.secrets.size(), 2u);
  EXPECT_EQ(h->api.secrets.at("api_key").reveal(), kApiKey);
  EXPECT_EQ(h->api.secrets.at("api_key").source(), "env:HERALD_TEST_SMS_API_KEY");
  EXPECT_EQ(h->api.secrets.at("client_id").reveal(), "client-7788");
  EXPECT_EQ(h->api.response.success_pointer, "/CodeResult");
  EXPECT_EQ(h->api.response.success_value, "100");
  EXPECT_EQ(h->api.response.id_pointer, "/SMSID");
  EXPECT_EQ(h->api.response.error_pointer, "/ErrorMessage");
  EXPECT_EQ(h->api.response.permanent_pointer, "/CodeResult");
  EXPECT_EQ(h->api.response.permanent_values, (std::vector<std::string>{"789", "99"}));
  EXPECT_EQ(h->api.receipt.status, "/Status");
  EXPECT_EQ(h->api.receipt.id, "/SMSID");
  EXPECT_EQ(h->api.receipt.map, (std::map<std::string, DeliveryState>{{"1", DeliveryState::delivered},
                                                                  {"2", DeliveryState::failed},
                                                                  {"3", DeliveryState::sent},
                                                                  {"5", DeliveryState::expired}}));
  EXPECT_EQ(h->limits().rate_per_s, 50);
  EXPECT_EQ(h->limits().concurrency, 8);
  EXPECT_EQ(h->limits().timeout_ms, 4000);
  EXPECT_FALSE(h->unaccented());
}

// ---- request in -> request out --------------------------------------------------------

class HttpJsonBuild : public ::testing::TestWithParam<test::Case> {};

TEST_P(HttpJsonBuild, RequestOut) {
  const json::object& c = GetParam().data;
  auto g = gateway(test::str(c, "gateway"));
  ASSERT_NE(g, nullptr);
  const net::HttpRequest req = g->build(message_from(c.at("message").as_object()));
  const json::object& e = c.at("expect").as_object();
  EXPECT_EQ(req.method, test::str(e, "method"));
  EXPECT_EQ(req.url, test::str(e, "url"));
  EXPECT_EQ(req.timeout_ms, e.at("timeout_ms").to_number<int64_t>());
  std::vector<std::string> headers;
  for (const auto& h : e.at("headers").as_array()) headers.emplace_back(h.as_string());
  EXPECT_EQ(req.headers, headers);

  // The body is valid JSON whatever the text holds, and says exactly what was sent.
  json::error_code ec;
  json::value body = json::parse(req.body, ec);
  ASSERT_FALSE(ec) << ec.message() << "\n" << req.body;
  EXPECT_EQ(body, e.at("body")) << req.body;
  if (auto* pieces = e.if_contains("body_contains")) {
    for (const auto& p : pieces->as_array())
      EXPECT_NE(req.body.find(std::string(p.as_string())), std::string::npos)
          << "missing " << p.as_string() << " in " << req.body;
  }
}

INSTANTIATE_TEST_SUITE_P(Testdata, HttpJsonBuild, ::testing::ValuesIn(test::read_cases(testdata("build.json"))),
                         case_name);

TEST(HttpJson, RepliesComeInThroughTheConfiguredMoFields) {
  auto g = test::gateway_from_yaml("sms-mo", R"(type: http_json
url: https://sms.example.vn/send
body: '{"to": "{{to}}", "text": "{{text}}"}'
mo: {from: /Phone, text: /Message}
)");
  ASSERT_NE(g, nullptr);
  InboundCallback cb;
  cb.method = "POST";
  cb.content_type = "application/json";
  cb.body = R"({"Phone": "0912000401", "Message": "Đã nhận 158", "Time": "2021-07-12 09:00"})";
  auto r = g->parse_mo(cb);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->from, "0912000401");
  EXPECT_EQ(r->text, "Đã nhận 158");
  cb.body = R"({"Message": "OK"})";
  EXPECT_FALSE(g->parse_mo(cb).has_value());  // no sender: not a reply
  cb.body = "not json";
  EXPECT_FALSE(g->parse_mo(cb).has_value());
  // Form and query fields by name.
  auto q = test::gateway_from_yaml("sms-mo-q", R"(type: http_json
url: https://sms.example.vn/send
body: '{"to": "{{to}}"}'
mo: {from: msisdn, text: content}
)");
  InboundCallback get;
  get.method = "GET";
  get.query = {{"msisdn", "84912000402"}, {"content", "ok 158"}};
  r = q->parse_mo(get);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->from, "84912000402");
  EXPECT_EQ(r->text, "ok 158");
  // Without `mo:` the gateway takes no replies.
  EXPECT_FALSE(gateway("gateway.yaml")->parse_mo(get).has_value());
}

TEST(HttpJson, ConfiguredContentTypeAndMethodAreKept) {
  auto g = test::gateway_from_yaml("sms-put", R"(type: http_json
url: http://127.0.0.1:9090/messages/{{token}}
method: PUT
headers: {content-type: "application/vnd.sms+json", X-Key: "{{secret.k}}"}
secrets: {k: "k-1"}
body: '{"to": "{{to_msisdn}}"}'
)");
  ASSERT_NE(g, nullptr);
  OutboundMessage m;
  m.token = "abc";
  m.address = "+84912000126";
  const net::HttpRequest req = g->build(m);
  EXPECT_EQ(req.method, "PUT");
  EXPECT_EQ(req.url, "http://127.0.0.1:9090/messages/abc");
  EXPECT_EQ(req.headers, (std::vector<std::string>{"content-type: application/vnd.sms+json", "X-Key: k-1",
                                                   "Expect:"}));
  EXPECT_EQ(req.body, R"({"to": "84912000126"})");
}

// ---- answer -> outcome ----------------------------------------------------------------

// ---- callback -> state ----------------------------------------------------------------

TEST(HttpJson, PlaceholdersCannotBreakOutOfTheUrlOrAHeader) {
  auto g = test::gateway_from_yaml("sms-get", R"(type: http_json
method: GET
url: "https://sms.example.vn/send?to={{to_national}}&msg={{text}}&cb={{receipt_url}}"
headers: {X-Ref: "herald {{text}}"}
body: '{}'
)");
  ASSERT_NE(g, nullptr);
  OutboundMessage m;
  m.address = "+84912000401";
  m.token = "00112233445566778899aabbccddeeff";
  m.receipt_url = "http://h/hooks/sms/sms-get/00112233445566778899aabbccddeeff?x=1";
  m.text = "Họp lúc 8h & mang theo tài liệu#1?admin=1/../";
  ASSERT_FALSE(g->refuse(m).has_value());
  const net::HttpRequest req = g->build(m);
  EXPECT_EQ(req.url,
            "https://sms.example.vn/send?to=0912000401"
            "&msg=H%E1%BB%8Dp%20l%C3%BAc%208h%20%26%20mang%20theo%20t%C3%A0i%20li%E1%BB%87u%231%3Fadmin%3D1%2F..%2F"
            "&cb=http%3A%2F%2Fh%2Fhooks%2Fsms%2Fsms-get%2F00112233445566778899aabbccddeeff%3Fx%3D1");
  // A line break in a value that lands in a header would start a header of its own.
  for (const char* text : {"OK\r\nX-Injected: 1", "OK\nX", "OK\rX", "a\x01" "b", "del\x7f"}) {
    m.text = text;
    auto refused = g->refuse(m);
    ASSERT_TRUE(refused.has_value()) << text;
    EXPECT_EQ(refused->code, "header_control_character");
    EXPECT_EQ(refused->kind, SendErrorKind::bad_request);
  }
  m.text = "tab\tis fine";
  EXPECT_FALSE(g->refuse(m).has_value());
}

TEST(HttpJson, SignedCallbacksVerifyOrAreRefusedAsForged) {
  // HMAC-SHA256 over the raw body with the shared key, as Python's
  // hmac.new(b"webhook-key-31", body, sha256) computes it.
  setenv("HERALD_TEST_WEBHOOK_KEY", "webhook-key-31", 1);
  auto hex = test::gateway_from_yaml("sms-signed", R"(type: http_json
url: https://sms.example.vn/send
body: '{"to": "{{to}}", "text": "{{text}}"}'
receipt:
  status: /Status
  map: {"2": delivered, "3": failed}
  signature: {header: X-Signature, key: "env:HERALD_TEST_WEBHOOK_KEY", prefix: "sha256="}
mo: {from: /Phone, text: /Message}
)");
  auto b64 = test::gateway_from_yaml("sms-signed-b64", R"(type: http_json
url: https://sms.example.vn/send
body: '{"to": "{{to}}", "text": "{{text}}"}'
receipt:
  status: /Status
  map: {"2": delivered}
  signature: {header: x-sig, key: "env:HERALD_TEST_WEBHOOK_KEY", encoding: base64, algorithm: hmac-sha256}
)");
  unsetenv("HERALD_TEST_WEBHOOK_KEY");
  ASSERT_NE(hex, nullptr);
  ASSERT_NE(b64, nullptr);
  const std::string body = R"({"Status": "2", "Phone": "0912000401", "Message": "OK 158"})";
  auto cb = [&](std::map<std::string, std::string> headers, std::string b) {
    return InboundCallback{"POST", {}, "application/json", std::move(b), std::move(headers)};
  };
  const std::string good_hex = "cb24f2e80cf2dcf38b47aaa6897b2c75039e5056478d3ab654029b2a0ad9e7e6";
  EXPECT_TRUE(hex->parse_receipt(cb({{"x-signature", "sha256=" + good_hex}}, body)).receipt.has_value());
  std::string upper = good_hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_TRUE(hex->parse_receipt(cb({{"x-signature", "sha256=" + upper}}, body)).receipt.has_value());
  EXPECT_TRUE(hex->parse_mo(cb({{"x-signature", "sha256=" + good_hex}}, body)).has_value());
  for (const auto& headers : std::vector<std::map<std::string, std::string>>{
           {}, {{"x-signature", good_hex}}, {{"x-signature", "sha256="}}, {{"x-other", "sha256=" + good_hex}},
           {{"x-signature", "sha256=" + std::string("37740b6c957ed20f362cd8f30dfd2d55da612d15b2b052dbfdb08048fa1b4db9")}}}) {
    ReceiptParse p = hex->parse_receipt(cb(headers, body));
    EXPECT_FALSE(p.receipt.has_value());
    EXPECT_TRUE(p.forged);
    EXPECT_FALSE(hex->parse_mo(cb(headers, body)).has_value()) << "a reply is signed the same way";
  }
  // The signature covers the body: another body under the same signature is forged.
  ReceiptParse swapped = hex->parse_receipt(cb({{"x-signature", "sha256=" + good_hex}}, R"({"Status": "3"})"));
  EXPECT_TRUE(swapped.forged);
  // Base64, no prefix.
  const std::string good_b64 = "yyTy6Azy3POLR6qmiXssdQOeUFZHjTq2VAKbKgrZ5+Y=";
  EXPECT_TRUE(b64->parse_receipt(cb({{"x-sig", good_b64}}, body)).receipt.has_value());
  EXPECT_TRUE(b64->parse_receipt(cb({{"x-sig", good_hex}}, body)).forged);
  // Without a signature configured, nothing changes.
  EXPECT_FALSE(gateway("gateway.yaml")->parse_receipt(cb({}, R"({"Status": 1})")).forged);
}

TEST(HttpJson, HostileNestingInACallbackIsRefused) {
  // 100,000 levels of arrays or objects, as the body and under a good status: the JSON
  // parser's depth limit (32) stops them before the stack runs out. The email and
  // loudspeaker gateways read their callbacks through this same code.
  constexpr size_t kDepth = 100000;
  std::string arrays = std::string(kDepth, '[') + std::string(kDepth, ']');
  std::string objects;
  for (size_t i = 0; i < kDepth; ++i) objects += "{\"a\":";
  objects += "1" + std::string(kDepth, '}');
  auto g = gateway("gateway.yaml");
  ASSERT_NE(g, nullptr);
  auto mo = test::gateway_from_yaml("sms-mo", R"(type: http_json
url: https://sms.example.vn/send
body: '{"to": "{{to}}", "text": "{{text}}"}'
mo: {from: /Phone, text: /Message}
)");
  ASSERT_NE(mo, nullptr);
  for (const std::string& body : {arrays, objects, R"({"Status": 1, "SMSID": )" + arrays + "}",
                                  R"({"Phone": "0912000401", "Message": )" + objects + "}"}) {
    InboundCallback cb{"POST", {}, "application/json", body, {}};
    ReceiptParse p = g->parse_receipt(cb);
    EXPECT_FALSE(p.receipt.has_value());
    EXPECT_EQ(p.error, "callback body is not JSON");
    EXPECT_FALSE(mo->parse_mo(cb).has_value());
    // The same body as the answer to a send: unreadable, so no success.
    net::HttpResponse res;
    res.status = 200;
    res.body = body;
    EXPECT_EQ(g->parse(res).error.code, "provider_no_status");
  }
}

}  // namespace
}  // namespace herald
