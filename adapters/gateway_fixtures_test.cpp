// The fixture cases every adapter folder keeps in its testdata/, run the same way for each
// folder adapters/CMakeLists.txt lists (gateway_fixtures.inc is generated from it):
// - config_errors/*.yaml: a gateway's YAML and, on its "# expect: F:LINE:COL: ..." lines,
//   exactly what make_gateway must report, in order;
// - responses.json: a provider's answer to a send ({"status", "body", "curl", "error"}) and
//   what it maps to on the shared error set;
// - receipts.json: a callback ({"method", "query", "content_type", "body"}) and the receipt
//   read from it, or the error that makes it a bad request.
// A case names the gateway it runs against ("gateway": a YAML file of testdata/; default
// gateway.yaml). Secrets the YAML takes from the environment are set for it, but for those
// named HERALD_TEST_UNSET_*, which must be unset.
#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>

#include "gateway_support.hpp"

namespace herald {
namespace {

namespace json = boost::json;

const std::vector<std::string>& folders() {
  static const std::vector<std::string> kFolders = {
#include "gateway_fixtures.inc"
  };
  return kFolders;
}

std::string testdata(const std::string& folder, const std::string& relative) {
  return test::source_path("adapters/" + folder + "/testdata/" + relative);
}

/// Sets what `yaml` reads from env:NAME for as long as it lives (unsets HERALD_TEST_UNSET_*).
class FixtureEnvironment {
 public:
  explicit FixtureEnvironment(const std::string& yaml) {
    static const std::regex kEnv("env:([A-Z0-9_]+)");
    for (std::sregex_iterator it(yaml.begin(), yaml.end(), kEnv), end; it != end; ++it) {
      const std::string name = (*it)[1];
      if (name.find("UNSET") != std::string::npos) {
        unsetenv(name.c_str());
      } else if (!std::getenv(name.c_str())) {
        setenv(name.c_str(), "fixture-secret-0123456789", 1);
        set_.push_back(name);
      }
    }
  }
  ~FixtureEnvironment() {
    for (const auto& name : set_) unsetenv(name.c_str());
  }

 private:
  std::vector<std::string> set_;
};

std::shared_ptr<Gateway> fixture_gateway(const std::string& folder, const json::object& c) {
  const std::string yaml = test::read_file(testdata(folder, test::str(c, "gateway", "gateway.yaml")));
  FixtureEnvironment env(yaml);
  return test::gateway_from_yaml("fixture", yaml);
}

struct FixtureCase {
  std::string folder;
  std::string name;
  json::object data;  // responses and receipts
};

void PrintTo(const FixtureCase& c, std::ostream* os) { *os << c.folder << ": " << c.name; }

std::string case_name(const ::testing::TestParamInfo<FixtureCase>& info) {
  return test::test_name(info.param.folder + "_" + info.param.name);
}

std::vector<FixtureCase> config_error_cases() {
  std::vector<FixtureCase> out;
  for (const auto& folder : folders()) {
    const std::string dir = testdata(folder, "config_errors");
    if (!std::filesystem::is_directory(dir)) continue;
    for (const auto& stem : test::files_in(dir, ".yaml")) out.push_back({folder, stem, {}});
  }
  return out;
}

std::vector<FixtureCase> json_cases(const std::string& file) {
  std::vector<FixtureCase> out;
  for (const auto& folder : folders()) {
    const std::string path = testdata(folder, file);
    if (!std::filesystem::exists(path)) continue;
    for (auto& c : test::read_cases(path)) out.push_back({folder, c.name, std::move(c.data)});
  }
  return out;
}

// ---- config_errors -----------------------------------------------------------------------

class GatewayConfigError : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(GatewayConfigError, ReportsExactly) {
  const std::string text = test::read_file(testdata(GetParam().folder, "config_errors/" + GetParam().name + ".yaml"));
  const auto expected = test::expected_errors(text);
  ASSERT_FALSE(expected.empty()) << "no # expect: lines";
  // The gateway's name is the one the expected messages give it.
  std::string name = "gw";
  static const std::regex kName("gateways\\.([a-z0-9_-]+)");
  for (const auto& e : expected) {
    std::smatch m;
    if (std::regex_search(e, m, kName)) {
      name = m[1];
      break;
    }
  }
  FixtureEnvironment env(text);
  EXPECT_EQ(test::gateway_errors(name, text), expected);
}

INSTANTIATE_TEST_SUITE_P(Testdata, GatewayConfigError, ::testing::ValuesIn(config_error_cases()), case_name);

// ---- responses.json ----------------------------------------------------------------------

class GatewayAnswer : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(GatewayAnswer, MapsOntoTheSharedErrorSet) {
  const json::object& c = GetParam().data;
  auto g = fixture_gateway(GetParam().folder, c);
  ASSERT_NE(g, nullptr);
  const SendResult r = g->parse(test::response_from(c.at("response").as_object()));
  const json::object& e = c.at("expect").as_object();
  EXPECT_EQ(to_string(r.error.kind), test::str(e, "kind"));
  EXPECT_EQ(r.error.code, test::str(e, "code"));
  EXPECT_EQ(r.error.text, test::str(e, "text"));
  EXPECT_EQ(r.provider_ref, test::str(e, "provider_ref"));
  if (auto* v = e.if_contains("retryable")) {
    EXPECT_EQ(r.error.retryable(), v->as_bool());
  }
  if (auto* v = e.if_contains("counts_against_gateway")) {
    EXPECT_EQ(r.error.counts_against_gateway(), v->as_bool());
  }
}

INSTANTIATE_TEST_SUITE_P(Testdata, GatewayAnswer, ::testing::ValuesIn(json_cases("responses.json")), case_name);

// ---- receipts.json -----------------------------------------------------------------------

class GatewayReceipt : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(GatewayReceipt, CallbackToState) {
  const json::object& c = GetParam().data;
  auto g = fixture_gateway(GetParam().folder, c);
  ASSERT_NE(g, nullptr);
  InboundCallback cb;
  cb.content_type = test::str(c, "content_type");
  cb.body = test::str(c, "body");
  cb.method = test::str(c, "method", cb.body.empty() ? "GET" : "POST");
  if (auto* q = c.if_contains("query"))
    for (const auto& [k, v] : q->as_object()) cb.query[std::string(k)] = std::string(v.as_string());
  const ReceiptParse p = g->parse_receipt(cb);
  const json::object& e = c.at("expect").as_object();
  if (e.contains("error")) {
    EXPECT_FALSE(p.receipt.has_value());
    EXPECT_EQ(p.error, test::str(e, "error"));
    return;
  }
  ASSERT_TRUE(p.receipt.has_value()) << p.error;
  EXPECT_EQ(p.error, "");
  EXPECT_EQ(to_string(p.receipt->state), test::str(e, "state"));
  EXPECT_EQ(p.receipt->status, test::str(e, "status"));
  EXPECT_EQ(p.receipt->provider_ref, test::str(e, "provider_ref"));
  EXPECT_EQ(p.receipt->error_code, test::str(e, "error_code"));
  if (e.contains("detail")) {
    EXPECT_EQ(p.receipt->detail, test::str(e, "detail"));
  }
}

INSTANTIATE_TEST_SUITE_P(Testdata, GatewayReceipt, ::testing::ValuesIn(json_cases("receipts.json")), case_name);

}  // namespace
}  // namespace herald
