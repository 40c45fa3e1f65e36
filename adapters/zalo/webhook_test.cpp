// The OA webhook's pure parts: the signature and freshness check, and event parsing.
// Signatures in testdata/signatures.json were computed independently (Python hashlib).
#include "adapters/zalo/webhook.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "gateway_support.hpp"

namespace json = boost::json;

namespace herald {
namespace {

constexpr const char* kAppId = "4318129834957112345";
constexpr const char* kSecret = "zalo-oa-secret-5e1d";
constexpr int64_t kTolerance = 120000;

std::string testdata(const std::string& relative) {
  return test::source_path("adapters/zalo/testdata/" + relative);
}

auto case_name = [](const auto& info) { return test::test_name(info.param.name); };

class ZaloSignatureCase : public ::testing::TestWithParam<test::Case> {};

TEST_P(ZaloSignatureCase, Verdict) {
  const json::object& c = GetParam().data;
  const std::string body = test::str(c, "body");
  ZaloEventParse p = parse_zalo_event(body);
  ASSERT_TRUE(p.event.has_value()) << p.error;
  ZaloSignature s = check_zalo_signature(test::str(c, "header"), body, *p.event, kAppId, kSecret,
                                         c.at("now_ms").to_number<int64_t>(), kTolerance);
  EXPECT_EQ(to_string(s), test::str(c, "expect"));
}

INSTANTIATE_TEST_SUITE_P(Testdata, ZaloSignatureCase,
                         ::testing::ValuesIn(test::read_cases(testdata("signatures.json"))), case_name);

TEST(ZaloSignature, MacIsHexSha256OfAppBodyTimestampSecret) {
  // sha256("abc") from FIPS 180-2, split across the four parts.
  EXPECT_EQ(zalo_event_mac("a", "b", "c", ""),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(zalo_event_mac("", "", "", ""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

class ZaloEventCase : public ::testing::TestWithParam<test::Case> {};

TEST_P(ZaloEventCase, Parses) {
  const json::object& c = GetParam().data;
  ZaloEventParse p = parse_zalo_event(test::str(c, "body"));
  const json::object& e = c.at("expect").as_object();
  if (e.contains("error")) {
    EXPECT_FALSE(p.event.has_value());
    EXPECT_EQ(p.error, test::str(e, "error"));
    return;
  }
  ASSERT_TRUE(p.event.has_value()) << p.error;
  EXPECT_EQ(p.event->name, test::str(e, "event"));
  EXPECT_EQ(p.event->app_id, test::str(e, "app_id"));
  EXPECT_EQ(p.event->timestamp, test::str(e, "timestamp"));
  EXPECT_EQ(p.event->timestamp_ms, e.at("timestamp_ms").to_number<int64_t>());
  std::vector<std::string> ids;
  for (const auto& id : e.at("msg_ids").as_array()) ids.emplace_back(id.as_string());
  EXPECT_EQ(p.event->msg_ids, ids);
  EXPECT_EQ(p.event->tracking_id, test::str(e, "tracking_id"));
}

INSTANTIATE_TEST_SUITE_P(Testdata, ZaloEventCase, ::testing::ValuesIn(test::read_cases(testdata("events.json"))),
                         case_name);

TEST(ZaloEvent, HostileNestingIsRefused) {
  // 100,000 levels of arrays or objects, as the body and inside an otherwise good event:
  // the JSON parser's depth limit (32) stops them before the stack runs out.
  constexpr size_t kDepth = 100000;
  std::string arrays = std::string(kDepth, '[') + std::string(kDepth, ']');
  std::string objects;
  for (size_t i = 0; i < kDepth; ++i) objects += "{\"a\":";
  objects += "1" + std::string(kDepth, '}');
  const std::string event = R"({"event_name":"user_seen_message","timestamp":"1626080000000","message":)";
  for (const std::string& body : {arrays, objects, event + arrays + "}", event + objects + "}"}) {
    ZaloEventParse p = parse_zalo_event(body);
    EXPECT_FALSE(p.event.has_value());
    EXPECT_EQ(p.error, "event body is not a JSON object");
  }
}

}  // namespace
}  // namespace herald
