// directive: herald.directive/v1 parsing; the seed 158-CV/HU parses whole, and every
// malformed message is refused with a path and a message a publisher can act on.
#include "directive/directive.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "core/time.hpp"
#include "support.hpp"

namespace json = boost::json;

namespace herald {
namespace {

std::vector<std::string> error_lines(const DirectiveParse& p) {
  std::vector<std::string> out;
  for (const auto& e : p.errors) out.push_back(e.path.empty() ? e.message : e.path + ": " + e.message);
  return out;
}

TEST(Directive, SeedParsesWithAllFields) {
  DirectiveParse p = parse_directive(test::seed_json());
  ASSERT_TRUE(p.directive.has_value()) << p.summary();
  EXPECT_TRUE(p.errors.empty());
  EXPECT_EQ(p.id, test::kSeedId);
  const Directive& d = *p.directive;
  EXPECT_EQ(d.id, "hu-chauthanh/158-CV/HU/2021");
  EXPECT_EQ(d.number, "158-CV/HU");
  EXPECT_EQ(d.issuer_code, "HU-CHAUTHANH");
  EXPECT_EQ(d.issuer_name, "Huyện ủy Châu Thành");
  EXPECT_EQ(d.issued_at, "2021-07-12T08:00:00+07:00");
  EXPECT_EQ(d.issued_at_ms, 1626051600000);
  EXPECT_EQ(d.subject.rfind("V/v tăng cường trách nhiệm lãnh đạo của các cấp ủy", 0), 0u);
  EXPECT_NE(d.subject.find("phòng, chống dịch Covid-19"), std::string::npos);
  EXPECT_EQ(d.summary.rfind("BTV Huyện ủy đề nghị", 0), 0u);
  EXPECT_EQ(d.body.rfind("Thực hiện Công văn số 169-CV/TU, ngày 11/7/2021", 0), 0u);
  EXPECT_NE(d.body.find("\n\n1. Các cấp ủy, chính quyền"), std::string::npos);
  EXPECT_TRUE(d.body.ends_with("\n\nT/M BAN THƯỜNG VỤ\nBÍ THƯ\nPhạm Anh Minh")) << d.body;
  EXPECT_EQ(d.urgency, Urgency::khan);
  EXPECT_EQ(to_string(d.urgency), "khan");
  EXPECT_EQ(d.confidentiality, Confidentiality::normal);
  EXPECT_FALSE(d.confidential());
  ASSERT_EQ(d.recipients.size(), 4u);
  const char* groups[] = {"chi-bo-dang-bo-truc-thuoc", "ubnd-xa-thi-tran",
                          "ban-nganh-doan-the-huyen", "huyen-uy-vien"};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(d.recipients[i].kind, RecipientRef::Kind::group);
    EXPECT_EQ(d.recipients[i].id, groups[i]);
  }
  EXPECT_TRUE(d.channels.empty());  // each recipient's preferences
  EXPECT_TRUE(d.ack_required);
  EXPECT_EQ(d.ack_deadline, "2021-07-13T17:00:00+07:00");
  EXPECT_EQ(d.ack_deadline_ms, parse_rfc3339("2021-07-13T10:00:00Z"));
  EXPECT_FALSE(d.loudspeaker.has_value());
  EXPECT_TRUE(d.attachments.empty());
}

TEST(Directive, OptionalPartsParse) {
  json::object o = json::parse(test::seed_json()).as_object();
  o["urgency"] = "hoa_toc";
  o["confidentiality"] = "toi_mat";
  o["channels"] = json::array{"zalo", "sms", "zalo"};
  o["recipients"] = json::array{json::object{{"group", "ubnd-xa-thi-tran"}},
                                json::object{{"person", "ct-ubnd-an-hiep"}},
                                json::object{{"group", "ubnd-xa-thi-tran"}}};
  o["loudspeaker"] = json::object{{"zones", json::array{"an-hiep", "an-ninh"}},
                                  {"text", "Thông báo khẩn"}, {"repeat", 3}};
  o["attachments"] = json::array{json::object{
      {"name", "158-CV-HU.pdf"}, {"url", "https://huyenuy.example/158.pdf"}, {"sha256", "ab12"}}};
  DirectiveParse p = parse_directive(json::serialize(o));
  ASSERT_TRUE(p.directive.has_value()) << p.summary();
  const Directive& d = *p.directive;
  EXPECT_EQ(d.urgency, Urgency::hoa_toc);
  EXPECT_EQ(rank(d.urgency), 3);
  EXPECT_TRUE(d.confidential());
  EXPECT_EQ(d.channels, (std::vector<Channel>{Channel::zalo, Channel::sms}));  // deduplicated
  ASSERT_EQ(d.recipients.size(), 2u);  // the repeated group once
  EXPECT_EQ(d.recipients[1].kind, RecipientRef::Kind::person);
  EXPECT_EQ(d.recipients[1].id, "ct-ubnd-an-hiep");
  ASSERT_TRUE(d.loudspeaker.has_value());
  EXPECT_EQ(d.loudspeaker->zones, (std::vector<std::string>{"an-hiep", "an-ninh"}));
  EXPECT_EQ(d.loudspeaker->text, "Thông báo khẩn");
  EXPECT_EQ(d.loudspeaker->repeat, 3);
  ASSERT_EQ(d.attachments.size(), 1u);
  EXPECT_EQ(d.attachments[0].url, "https://huyenuy.example/158.pdf");
  EXPECT_EQ(d.attachments[0].sha256, "ab12");
}

// ---- testdata/directive_errors.json: the seed with one change, and the errors ----------

struct ErrorCase {
  std::string name;
  json::object spec;
};

void set_path(json::object& o, std::string_view path, const json::value& v) {
  auto dot = path.find('.');
  if (dot == std::string_view::npos) {
    o[path] = v;
    return;
  }
  json::value& inner = o[path.substr(0, dot)];
  if (!inner.is_object()) inner = json::object{};
  set_path(inner.as_object(), path.substr(dot + 1), v);
}

std::string body_of(const json::object& spec) {
  if (auto* raw = spec.if_contains("raw")) return std::string(raw->as_string());
  json::object o = json::parse(test::seed_json()).as_object();
  if (auto* remove = spec.if_contains("remove"))
    for (const auto& key : remove->as_array()) o.erase(key.as_string());
  if (auto* set = spec.if_contains("set"))
    for (const auto& kv : set->as_object()) set_path(o, kv.key(), kv.value());
  return json::serialize(o);
}

std::vector<ErrorCase> error_cases() {
  std::vector<ErrorCase> out;
  json::value all = json::parse(test::read_file(test::testdata_path("directive_errors.json")));
  for (const auto& c : all.as_array())
    out.push_back({std::string(c.at("name").as_string()), c.as_object()});
  return out;
}

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

class DirectiveErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(DirectiveErrorTest, RefusedWithPathAndMessage) {
  const json::object& spec = GetParam().spec;
  DirectiveParse p = parse_directive(body_of(spec));
  EXPECT_FALSE(p.directive.has_value());
  std::vector<std::string> expected;
  for (const auto& e : spec.at("errors").as_array()) expected.emplace_back(e.as_string());
  EXPECT_EQ(error_lines(p), expected);
  if (auto* id = spec.if_contains("id")) {
    EXPECT_EQ(p.id, std::string(id->as_string()));
  } else if (!spec.contains("raw")) {
    EXPECT_EQ(p.id, test::kSeedId);  // known even though refused, for the dead-letter log
  }
}

INSTANTIATE_TEST_SUITE_P(Table, DirectiveErrorTest, ::testing::ValuesIn(error_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(Directive, SummaryJoinsAllErrors) {
  json::object o = json::parse(test::seed_json()).as_object();
  o.erase("number");
  o["urgency"] = "urgent";
  DirectiveParse p = parse_directive(json::serialize(o));
  EXPECT_EQ(p.summary(),
            "number: is required; urgency: \"urgent\" is not one of normal, khan, thuong_khan, hoa_toc");
}

TEST(Directive, TooLarge) {
  const std::string& seed = test::seed_json();
  DirectiveParse p = parse_directive(seed, 1000);
  EXPECT_FALSE(p.directive.has_value());
  EXPECT_EQ(error_lines(p), std::vector<std::string>{"directive is " + std::to_string(seed.size()) +
                                                     " bytes, more than the limit of 1000"});
  EXPECT_TRUE(parse_directive(seed, seed.size()).directive.has_value());  // the limit is inclusive
}

std::string with_nesting(size_t depth) {
  // The document itself is one level; "x" holds depth-1 more.
  std::string nested(depth - 1, '[');
  nested += std::string(depth - 1, ']');
  std::string seed = test::seed_json();
  return seed.substr(0, seed.rfind('}')) + ", \"x\": " + nested + "}";
}

TEST(Directive, NestingDeeperThanTheLimitIsRefused) {
  // At the limit (16) the JSON parses and only the unknown field is reported.
  EXPECT_EQ(error_lines(parse_directive(with_nesting(16))),
            std::vector<std::string>{"x: is not a field of herald.directive/v1"});
  DirectiveParse deep = parse_directive(with_nesting(17));
  // Line 19 is `, "x": [[[...`: the object is level 1, so the 16th '[' (column 23) is
  // level 17, where the parser stops.
  EXPECT_EQ(error_lines(deep),
            std::vector<std::string>{"not valid JSON: nested more than 16 levels deep at line 19 column 23"});
  // Hostile depth fails the same way, without exhausting the stack.
  EXPECT_FALSE(parse_directive(std::string(100000, '[')).directive.has_value());
}

TEST(Directive, HostileNestingIsRefusedWithoutExhaustingTheStack) {
  // 100,000 levels of arrays, of objects and of both, balanced (well-formed but for the
  // depth), as the whole message and as a field of the seed directive.
  constexpr size_t kDepth = 100000;
  std::string arrays = std::string(kDepth, '[') + std::string(kDepth, ']');
  std::string objects, mixed;
  for (size_t i = 0; i < kDepth; ++i) {
    objects += "{\"a\":";
    mixed += i % 2 ? "{\"a\":" : "[";
  }
  objects += "1" + std::string(kDepth, '}');
  mixed += "1";
  for (size_t i = kDepth; i-- > 0;) mixed += i % 2 ? '}' : ']';
  const std::string seed = test::seed_json();
  const std::string as_field = seed.substr(0, seed.rfind('}')) + ", \"x\": ";
  for (const std::string* nested : {&arrays, &objects, &mixed}) {
    for (const std::string& body : {*nested, as_field + *nested + "}"}) {
      ASSERT_LT(body.size(), size_t{1} << 20);  // under the size limit: the depth is what is refused
      DirectiveParse p = parse_directive(body);
      EXPECT_FALSE(p.directive.has_value());
      ASSERT_EQ(p.errors.size(), 1u);
      EXPECT_EQ(p.errors[0].path, "");
      EXPECT_TRUE(p.errors[0].message.starts_with("not valid JSON: nested more than 16 levels deep at line "))
          << p.errors[0].message;
    }
  }
}

TEST(Directive, InvalidUtf8IsRefused) {
  std::string body = test::seed_json();
  // Break "Huyện ủy Châu Thành" (issuer.name, line 5) with a lone lead byte.
  size_t at = body.find("Châu");
  ASSERT_NE(at, std::string::npos);
  body.replace(at, 4, "Ch\xC3\x28u");
  DirectiveParse p = parse_directive(body);
  EXPECT_FALSE(p.directive.has_value());
  // Named as an encoding problem, at the bad byte: column 62 counts bytes, and
  // "Huyện ủy Ch" before it is 15 bytes from column 47.
  EXPECT_EQ(error_lines(p), std::vector<std::string>{"not valid UTF-8 at line 5 column 62"});
  EXPECT_EQ(p.id, "");
  // Windows-1258 / Latin-1 text instead of UTF-8.
  EXPECT_EQ(error_lines(parse_directive("{\"subject\": \"Th\xF4ng b\xE1o\"}")),
            std::vector<std::string>{"not valid UTF-8 at line 1 column 16"});
}

}  // namespace
}  // namespace herald
