// Kannel sendsms: request in -> request out, and DLR values as Kannel means them. The
// cases are data in testdata/ next to this file (its answers, receipts and refused configs
// run in the shared fixture suites, adapters/gateway_fixtures_test.cpp).
#include "adapters/sms/kannel/kannel.hpp"

#include <cstdlib>
#include <map>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "gateway_support.hpp"

namespace json = boost::json;

namespace herald {
namespace {

std::string testdata(const std::string& relative) {
  return test::source_path("adapters/sms/kannel/testdata/" + relative);
}

// The gateway the answer and receipt cases run against.
std::shared_ptr<Gateway> standard_gateway() {
  static const std::shared_ptr<Gateway> g = test::gateway_from_yaml("kannel-local", test::read_file(testdata("gateway.yaml")));
  return g;
}

OutboundMessage message_from(const json::object& m) {
  OutboundMessage out;
  out.delivery_id = 7;
  out.token = "0123456789abcdef0123456789abcdef";
  out.address = test::str(m, "address");
  out.text = test::str(m, "text");
  out.coding = test::str(m, "coding") == "ucs2" ? SmsCoding::ucs2 : SmsCoding::gsm7;
  out.receipt_url = test::str(m, "receipt_url");
  return out;
}

bool unreserved_or_escape(const std::string& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') continue;
    if (c == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      i += 2;
      continue;
    }
    return false;
  }
  return true;
}

auto case_name = [](const auto& info) { return test::test_name(info.param.name); };

// ---- request in -> request out --------------------------------------------------------

class KannelBuild : public ::testing::TestWithParam<test::Case> {};

TEST_P(KannelBuild, RequestOut) {
  const json::object& c = GetParam().data;
  auto g = test::gateway_from_yaml("kannel-local", json::serialize(c.at("config")));
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->channel(), Channel::sms);
  const OutboundMessage m = message_from(c.at("message").as_object());
  const net::HttpRequest req = g->build(m);
  const json::object& e = c.at("expect").as_object();

  EXPECT_EQ(req.method, test::str(e, "method"));
  EXPECT_EQ(req.timeout_ms, e.at("timeout_ms").to_number<int64_t>());
  EXPECT_TRUE(req.body.empty());
  EXPECT_TRUE(req.headers.empty());
  const size_t q = req.url.find('?');
  ASSERT_NE(q, std::string::npos) << req.url;
  EXPECT_EQ(req.url.substr(0, q), test::str(e, "base"));

  // Every value is percent-encoded: nothing in it can end a parameter or start another.
  std::vector<std::string> raw;
  for (size_t start = q + 1; start <= req.url.size();) {
    size_t amp = req.url.find('&', start);
    if (amp == std::string::npos) amp = req.url.size();
    raw.push_back(req.url.substr(start, amp - start));
    start = amp + 1;
  }
  for (const auto& piece : raw) {
    const size_t eq = piece.find('=');
    ASSERT_NE(eq, std::string::npos) << piece;
    EXPECT_TRUE(unreserved_or_escape(piece.substr(eq + 1))) << piece;
  }

  std::map<std::string, std::string> got;
  for (const auto& [k, v] : test::query_of(req.url))
    EXPECT_TRUE(got.emplace(k, v).second) << "parameter given twice: " << k;
  std::map<std::string, std::string> want;
  for (const auto& [k, v] : e.at("params").as_object()) want[std::string(k)] = std::string(v.as_string());
  EXPECT_EQ(got, want);

  // dlr-url reaches Kannel with %d and %A literal, for Kannel to fill in.
  EXPECT_EQ(got["dlr-url"], m.receipt_url);

  if (auto* pieces = e.if_contains("raw")) {
    for (const auto& p : pieces->as_array())
      EXPECT_NE(std::find(raw.begin(), raw.end(), std::string(p.as_string())), raw.end())
          << "missing " << p.as_string() << " in " << req.url;
  }
  if (e.contains("url")) {
    EXPECT_EQ(req.url, test::str(e, "url"));
  }
}

INSTANTIATE_TEST_SUITE_P(Testdata, KannelBuild, ::testing::ValuesIn(test::read_cases(testdata("build.json"))),
                         case_name);

TEST(Kannel, ReceiptQueryLeavesKannelEscapesToKannel) {
  auto g = standard_gateway();
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->receipt_query(), "status=%d&answer=%A");
  OutboundMessage m;
  m.address = "+84912000126";
  m.text = "x";
  m.receipt_url = "http://127.0.0.1:8080/hooks/sms/kannel-local/tok?" + g->receipt_query();
  const std::string url = g->build(m).url;
  // Encoded once: Kannel's CGI decoding gives back the literal %d and %A.
  EXPECT_NE(url.find("%3Fstatus%3D%25d%26answer%3D%25A"), std::string::npos) << url;
  EXPECT_EQ(url.find("status=%d"), std::string::npos) << url;
}

// ---- delivery report -> state ---------------------------------------------------------
// The answer and receipt cases run against testdata/gateway.yaml in the shared fixture
// suites (adapters/gateway_fixtures_test.cpp); this holds the receipt table to Kannel's
// own mapping.

class KannelReceipt : public ::testing::TestWithParam<test::Case> {};

TEST_P(KannelReceipt, TheTableIsKannelDlr) {
  const json::object& c = GetParam().data;
  auto g = standard_gateway();
  ASSERT_NE(g, nullptr);
  InboundCallback cb;
  cb.method = "GET";
  for (const auto& [k, v] : c.at("query").as_object()) cb.query[std::string(k)] = std::string(v.as_string());
  const ReceiptParse p = g->parse_receipt(cb);
  if (!p.receipt) return;  // a malformed report: the shared suite checks why
  EXPECT_EQ(p.receipt->provider_ref, "");
  auto direct = kannel_dlr(std::stoi(p.receipt->status));
  ASSERT_TRUE(direct.has_value());
  EXPECT_EQ(direct->state, p.receipt->state);
}

INSTANTIATE_TEST_SUITE_P(Testdata, KannelReceipt,
                         ::testing::ValuesIn(test::read_cases(testdata("receipts.json"))), case_name);

TEST(Kannel, LongAnswerIsCutInTheDetail) {
  auto g = standard_gateway();
  ASSERT_NE(g, nullptr);
  InboundCallback cb;
  cb.query = {{"status", "8"}, {"answer", std::string(250, 'x')}};
  const ReceiptParse p = g->parse_receipt(cb);
  ASSERT_TRUE(p.receipt.has_value());
  EXPECT_EQ(p.receipt->detail, "accepted by SMSC: " + std::string(200, 'x'));
}

TEST(Kannel, OnlyTheDocumentedDlrValuesAreKnown) {
  std::map<int, DeliveryState> known;
  for (int v = -1; v <= 64; ++v)
    if (auto u = kannel_dlr(v)) known[v] = u->state;
  EXPECT_EQ(known, (std::map<int, DeliveryState>{{1, DeliveryState::delivered},
                                                 {2, DeliveryState::failed},
                                                 {4, DeliveryState::sent},
                                                 {8, DeliveryState::sent},
                                                 {16, DeliveryState::failed},
                                                 {34, DeliveryState::expired}}));
}

// ---- config -------------------------------------------------------------------------

TEST(Kannel, ReadsSettingsLimitsAndASecretFromTheEnvironment) {
  setenv("HERALD_TEST_KANNEL_PW", "from-env-kannel-pw", 1);
  auto g = test::gateway_from_yaml("kannel-local", R"(type: kannel
sendsms_url: http://127.0.0.1:13013/cgi-bin/sendsms
username: herald
password: env:HERALD_TEST_KANNEL_PW
from: "8077"
smsc: fake
dlr_mask: 9
rate: 50
concurrency: 4
timeout: 3s
unaccented: true
breaker: {failures: 3, cooldown: 2s}
)");
  unsetenv("HERALD_TEST_KANNEL_PW");
  ASSERT_NE(g, nullptr);
  auto* k = dynamic_cast<KannelGateway*>(g.get());
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->name(), "kannel-local");
  EXPECT_EQ(k->sendsms_url, "http://127.0.0.1:13013/cgi-bin/sendsms");
  EXPECT_EQ(k->username, "herald");
  EXPECT_EQ(k->password.reveal(), "from-env-kannel-pw");
  EXPECT_EQ(k->password.source(), "env:HERALD_TEST_KANNEL_PW");
  EXPECT_EQ(k->from, "8077");
  EXPECT_EQ(k->smsc, "fake");
  EXPECT_EQ(k->dlr_mask, 9);
  EXPECT_TRUE(k->unaccented());
  EXPECT_EQ(k->limits().rate_per_s, 50);
  EXPECT_EQ(k->limits().concurrency, 4);
  EXPECT_EQ(k->limits().timeout_ms, 3000);
  EXPECT_EQ(k->limits().breaker_failures, 3);
  EXPECT_EQ(k->limits().breaker_cooldown_ms, 2000);
}

}  // namespace
}  // namespace herald
