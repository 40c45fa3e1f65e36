// acks/reply: replies read as acknowledgements, resolved against open directives; help
// text, ack codes and footers.
#include "acks/reply.hpp"

#include <gtest/gtest.h>

#include <set>

#include "support.hpp"

namespace herald::acks {
namespace {

using Kind = ParsedReply::Kind;
using Outcome = Resolution::Outcome;

/// The table's escapes: \xHH a byte, \t a tab, \<c> the character c.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
    } else if (s[i + 1] == 'x' && i + 3 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 2, 2), nullptr, 16));
      i += 3;
    } else if (s[i + 1] == 't') {
      out += '\t';
      ++i;
    } else {
      out += s[++i];
    }
  }
  return out;
}

struct ReplyCase {
  size_t line;  // row of the table, for messages
  std::string input, kind, code, why;
};

std::vector<ReplyCase> reply_cases() {
  std::vector<ReplyCase> out;
  for (auto& row : test::read_table(test::testdata_path("replies.tsv"))) {
    row.resize(4);
    out.push_back({out.size(), unescape(row[0]), row[1], row[2], row[3]});
  }
  return out;
}

void PrintTo(const ReplyCase& c, std::ostream* os) { *os << '"' << c.input << '"'; }

class ReplyTest : public ::testing::TestWithParam<ReplyCase> {};

TEST_P(ReplyTest, Parses) {
  const ReplyCase& c = GetParam();
  ASSERT_TRUE(c.kind == "ack" || c.kind == "unknown") << "bad kind in row " << c.line;
  ParsedReply r = parse_reply(c.input);
  EXPECT_EQ(r.kind == Kind::ack ? "ack" : "unknown", c.kind) << '"' << c.input << "\" " << c.why;
  EXPECT_EQ(r.code, c.code) << '"' << c.input << "\" " << c.why;
}

INSTANTIATE_TEST_SUITE_P(Table, ReplyTest, ::testing::ValuesIn(reply_cases()),
                         [](const auto& info) { return "row" + std::to_string(info.index); });

TEST(Reply, TableHasEnoughCases) {
  auto cases = reply_cases();
  EXPECT_GE(cases.size(), 40u);
  size_t acks = 0;
  for (const auto& c : cases) acks += c.kind == "ack";
  EXPECT_GE(acks, 15u);
  EXPECT_GE(cases.size() - acks, 15u);
}

TEST(Reply, UnknownHasNoCode) {
  for (const auto& c : reply_cases())
    if (c.kind == "unknown") {
      EXPECT_EQ(c.code, "") << "row " << c.line;
    }
}

TEST(Reply, OnlyTheFirst500BytesAreRead) {
  EXPECT_EQ(parse_reply(std::string(600, ' ') + "ok 158").kind, Kind::unknown);
  ParsedReply r = parse_reply("ok 158 " + std::string(600, 'x') + "\xFF?");
  EXPECT_EQ(r.kind, Kind::ack);
  EXPECT_EQ(r.code, "158");
  // A two-byte character straddling byte 500 is dropped, not read as malformed.
  std::string straddle = "ok 158 " + std::string(492, ' ') + "đ";
  ASSERT_EQ(straddle.size(), 501u);
  EXPECT_EQ(parse_reply(straddle).kind, Kind::ack);
}

TEST(Reply, NeverCrashesOnBytes) {
  std::string s;
  for (int i = 0; i < 1024; ++i) s += static_cast<char>((i * 37 + 11) % 256);
  for (size_t len = 0; len <= s.size(); len += 7) {
    ParsedReply r = parse_reply(std::string_view(s).substr(0, len));
    if (r.kind == Kind::unknown) {
      EXPECT_EQ(r.code, "");
    } else {
      EXPECT_TRUE(r.code.empty() || is_ack_code(r.code)) << r.code;
    }
  }
}

TEST(Reply, CodesAreNormalised) {
  EXPECT_EQ(normalize_code("0158A"), "158a");
  EXPECT_EQ(normalize_code("000"), "0");
  EXPECT_EQ(normalize_code("158"), "158");
  EXPECT_TRUE(is_ack_code("158"));
  EXPECT_TRUE(is_ack_code("158a"));
  EXPECT_TRUE(is_ack_code("123456"));
  EXPECT_FALSE(is_ack_code(""));
  EXPECT_FALSE(is_ack_code("a158"));
  EXPECT_FALSE(is_ack_code("1234567"));
  EXPECT_FALSE(is_ack_code("158-cv"));
}

ParsedReply ack(std::string code = {}) { return {Kind::ack, std::move(code)}; }

TEST(Resolve, CodeAmongOpenMatches) {
  Resolution r = resolve(ack("158"), {"157", "158", "160"});
  EXPECT_EQ(r.outcome, Outcome::matched);
  EXPECT_EQ(r.code, "158");
}

TEST(Resolve, CodeComparisonIgnoresCaseAndLeadingZeros) {
  EXPECT_EQ(resolve(ack("158a"), {"158A"}).outcome, Outcome::matched);
  EXPECT_EQ(resolve(ack("158a"), {"158A"}).code, "158A");  // the open code as stored
  EXPECT_EQ(resolve(ack("158"), {"0158"}).outcome, Outcome::matched);
  EXPECT_EQ(resolve(parse_reply("OK 158A"), {"158a", "158"}).code, "158a");
}

TEST(Resolve, CodeNotOpenIsUnknownCode) {
  Resolution r = resolve(ack("159"), {"158", "160"});
  EXPECT_EQ(r.outcome, Outcome::unknown_code);
  EXPECT_EQ(r.code, "159");
  EXPECT_EQ(resolve(ack("158"), {"158a"}).outcome, Outcome::unknown_code);
}

TEST(Resolve, OneOpenDirectiveAndAReplyWithoutACode) {
  Resolution r = resolve(parse_reply("Đã nhận"), {"158"});
  EXPECT_EQ(r.outcome, Outcome::no_code_single);
  EXPECT_EQ(r.code, "158");
}

TEST(Resolve, TwoOpenDirectivesAndAReplyWithoutACode) {
  Resolution r = resolve(parse_reply("ok"), {"158", "160"});
  EXPECT_EQ(r.outcome, Outcome::ambiguous);
  EXPECT_EQ(r.code, "");
}

TEST(Resolve, NothingOpen) {
  EXPECT_EQ(resolve(ack("158"), {}).outcome, Outcome::none_open);
  EXPECT_EQ(resolve(ack(), {}).outcome, Outcome::none_open);
}

TEST(Resolve, NotAnAck) {
  EXPECT_EQ(resolve(parse_reply("158 la gi?"), {"158"}).outcome, Outcome::not_an_ack);
  EXPECT_EQ(resolve(parse_reply("STOP"), {}).outcome, Outcome::not_an_ack);
  EXPECT_EQ(resolve(ParsedReply{}, {"158"}).outcome, Outcome::not_an_ack);
}

/// GSM 03.38 length, or -1 when a character is outside the default alphabet and its
/// extension table.
int gsm7_length(const std::string& s) {
  static const std::string basic =
      "@$\n\r _!\"#%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  static const std::string extended = "^{}\\[~]|";
  int n = 0;
  for (char c : s) {
    if (basic.find(c) != std::string::npos) n += 1;
    else if (extended.find(c) != std::string::npos) n += 2;
    else return -1;
  }
  return n;
}

TEST(HelpText, ListsOpenCodes) {
  EXPECT_EQ(help_text({"158", "160"}, true),
            "Herald: chua ro noi dung. De xac nhan, tra loi OK <so van ban>, vi du: OK 158. "
            "Van ban cho xac nhan: 158, 160.");
  EXPECT_EQ(help_text({"158"}, false),
            "Herald: chưa rõ nội dung. Để xác nhận, trả lời OK <số văn bản>, ví dụ: OK 158. "
            "Văn bản chờ xác nhận: 158.");
}

TEST(HelpText, AtMostThreeCodes) {
  std::string text = help_text({"158", "160", "161", "162", "163"}, true);
  EXPECT_NE(text.find("158, 160, 161 va 2 van ban khac."), std::string::npos) << text;
  EXPECT_EQ(text.find("162"), std::string::npos);
}

TEST(HelpText, NothingOpen) {
  EXPECT_EQ(help_text({}, true), "Herald: chua ro noi dung. Hien khong co van ban nao cho xac nhan.");
}

TEST(HelpText, UnaccentedFitsOneSms) {
  std::vector<std::vector<std::string>> lists = {
      {}, {"1"}, {"158"}, {"158", "160"}, {"12345a", "12345b", "12345c"},
      {"12345a", "12345b", "12345c", "12345d", "12345e", "12345f", "12345g", "12345h", "12345i",
       "12345j", "12345k", "12345l"}};
  for (int i = 0; i < 120; ++i) lists.back().push_back(std::to_string(100000 + i));
  for (const auto& codes : lists) {
    std::string text = help_text(codes, true);
    int n = gsm7_length(text);
    EXPECT_GE(n, 0) << text;
    EXPECT_LE(n, 160) << text;
  }
}

TEST(DeriveAckCode, LeadingDigitsOfTheNumber) {
  auto none = [](const std::string&) { return false; };
  EXPECT_EQ(derive_ack_code("158-CV/HU", "hu/158", none), "158");
  EXPECT_EQ(derive_ack_code("158/QĐ-UBND", "x", none), "158");
  EXPECT_EQ(derive_ack_code("05/TB-UBND", "x", none), "5");
  EXPECT_EQ(derive_ack_code(" 12", "x", none), "12");
}

TEST(DeriveAckCode, CollisionTakesTheNextLetter) {
  std::set<std::string> open = {"158"};
  auto taken = [&](const std::string& c) { return open.count(c) > 0; };
  EXPECT_EQ(derive_ack_code("158-CV/HU", "a", taken), "158a");
  open.insert("158a");
  EXPECT_EQ(derive_ack_code("158-CV/HU", "a", taken), "158b");
  for (char l = 'b'; l <= 'z'; ++l) open.insert(std::string("158") + l);
  std::string code = derive_ack_code("158-CV/HU", "a", taken);  // letters exhausted: hash
  EXPECT_EQ(open.count(code), 0u);
  EXPECT_TRUE(is_ack_code(code)) << code;
}

TEST(DeriveAckCode, NoLeadingDigitsGivesDigitsFromTheId) {
  auto none = [](const std::string&) { return false; };
  std::string a = derive_ack_code("CV/HU", "hu/CV/2021", none);
  EXPECT_EQ(a.size(), 4u);
  EXPECT_EQ(a.find_first_not_of("0123456789"), std::string::npos) << a;
  EXPECT_NE(a[0], '0');
  EXPECT_EQ(derive_ack_code("CV/HU", "hu/CV/2021", none), a);  // stable
  EXPECT_EQ(derive_ack_code("", "hu/CV/2021", none), a);
  EXPECT_EQ(derive_ack_code("12345678/QĐ", "hu/CV/2021", none), a);  // too many digits
  std::set<std::string> open = {a};
  std::string b =
      derive_ack_code("CV/HU", "hu/CV/2021", [&](const std::string& c) { return open.count(c) > 0; });
  EXPECT_NE(b, a);
  EXPECT_TRUE(is_ack_code(b));
}

TEST(DeriveAckCode, EveryCodeParsesBack) {
  std::set<std::string> open;
  auto taken = [&](const std::string& c) { return open.count(c) > 0; };
  for (int i = 0; i < 30; ++i) {
    std::string code = derive_ack_code("158-CV/HU", "id" + std::to_string(i), taken);
    open.insert(code);
    ParsedReply r = parse_reply("OK " + code);
    EXPECT_EQ(r.code, code);
    std::string upper = code;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(parse_reply("ok" + upper).code, code);
  }
  EXPECT_EQ(open.size(), 30u);
}

TEST(AckFooter, BothForms) {
  EXPECT_EQ(ack_footer("158", false), "Trả lời OK 158 để xác nhận.");
  EXPECT_EQ(ack_footer("158", true), "Tra loi OK 158 de xac nhan.");
  EXPECT_EQ(ack_footer("158a", true), "Tra loi OK 158a de xac nhan.");
}

TEST(AckFooter, ReplyingAsToldAcknowledges) {
  for (const std::string code : {"158", "158a", "4821"}) {
    std::string footer = ack_footer(code, false);
    auto at = footer.find("OK ");
    ASSERT_NE(at, std::string::npos);
    std::string reply = footer.substr(at, 3 + code.size());
    EXPECT_EQ(resolve(parse_reply(reply), {"1", code}).outcome, Outcome::matched) << reply;
  }
}

}  // namespace
}  // namespace herald::acks
