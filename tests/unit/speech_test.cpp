// text/speech: Vietnamese text as an announcer reads it, for espeak-ng on the commune
// loudspeakers. The cases are data in testdata/speech/cases.tsv.
#include "text/speech.hpp"

#include <gtest/gtest.h>

#include "support.hpp"
#include "text/vietnamese.hpp"

namespace herald {
namespace {

struct SpeechCase {
  std::string input, expected;
};

// A table cell cannot hold a line break; the table writes it "\n".
std::string unescape(const std::string& cell) {
  std::string out;
  for (size_t i = 0; i < cell.size(); ++i) {
    if (cell[i] == '\\' && i + 1 < cell.size() && cell[i + 1] == 'n') {
      out += '\n';
      ++i;
    } else {
      out += cell[i];
    }
  }
  return out;
}

std::vector<SpeechCase> speech_cases() {
  std::vector<SpeechCase> out;
  for (auto& row : test::read_table(test::testdata_path("speech/cases.tsv"))) {
    row.resize(2);
    out.push_back({unescape(row[0]), row[1]});
  }
  return out;
}

void PrintTo(const SpeechCase& c, std::ostream* os) { *os << '"' << c.input << '"'; }

class SpeechTest : public ::testing::TestWithParam<SpeechCase> {};

TEST_P(SpeechTest, ReadsAsAnAnnouncerWould) {
  EXPECT_EQ(normalize_for_speech(GetParam().input), GetParam().expected);
}

// What the synthesiser is given has nothing left to rewrite.
TEST_P(SpeechTest, ResultIsAlreadySpeech) {
  EXPECT_EQ(normalize_for_speech(GetParam().expected), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(Table, SpeechTest, ::testing::ValuesIn(speech_cases()),
                         [](const auto& info) { return "row" + std::to_string(info.index); });

TEST(Speech, TableIsNotEmpty) { EXPECT_GE(speech_cases().size(), 80u); }

TEST(ReadNumber, UnitsAndTens) {
  EXPECT_EQ(read_number(0), "không");
  EXPECT_EQ(read_number(4), "bốn");
  EXPECT_EQ(read_number(10), "mười");
  EXPECT_EQ(read_number(11), "mười một");
  EXPECT_EQ(read_number(14), "mười bốn");
  EXPECT_EQ(read_number(15), "mười lăm");
  EXPECT_EQ(read_number(20), "hai mươi");
  EXPECT_EQ(read_number(21), "hai mươi mốt");
  EXPECT_EQ(read_number(24), "hai mươi tư");
  EXPECT_EQ(read_number(25), "hai mươi lăm");
  EXPECT_EQ(read_number(99), "chín mươi chín");
}

TEST(ReadNumber, Hundreds) {
  EXPECT_EQ(read_number(100), "một trăm");
  EXPECT_EQ(read_number(101), "một trăm linh một");
  EXPECT_EQ(read_number(104), "một trăm linh bốn");
  EXPECT_EQ(read_number(105), "một trăm linh năm");
  EXPECT_EQ(read_number(110), "một trăm mười");
  EXPECT_EQ(read_number(115), "một trăm mười lăm");
  EXPECT_EQ(read_number(158), "một trăm năm mươi tám");
  EXPECT_EQ(read_number(321), "ba trăm hai mươi mốt");
}

TEST(ReadNumber, GroupsSayTheirHundredsAndSkipWhenEmpty) {
  EXPECT_EQ(read_number(1000), "một nghìn");
  EXPECT_EQ(read_number(1001), "một nghìn không trăm linh một");
  EXPECT_EQ(read_number(1010), "một nghìn không trăm mười");
  EXPECT_EQ(read_number(2021), "hai nghìn không trăm hai mươi mốt");
  EXPECT_EQ(read_number(15000), "mười lăm nghìn");
  EXPECT_EQ(read_number(1000000), "một triệu");
  EXPECT_EQ(read_number(1005000), "một triệu không trăm linh năm nghìn");
  EXPECT_EQ(read_number(1000005), "một triệu không trăm linh năm");
  EXPECT_EQ(read_number(2500000), "hai triệu năm trăm nghìn");
}

TEST(ReadNumber, Billions) {
  EXPECT_EQ(read_number(1'000'000'000), "một tỷ");
  EXPECT_EQ(read_number(2'050'000'000), "hai tỷ không trăm năm mươi triệu");
  EXPECT_EQ(read_number(1'000'000'005), "một tỷ không trăm linh năm");
  EXPECT_EQ(read_number(1'000'000'000'000), "một nghìn tỷ");
  // The largest there is: tỷ nests, as in "một nghìn tỷ".
  EXPECT_EQ(read_number(UINT64_MAX),
            "mười tám tỷ bốn trăm bốn mươi sáu triệu bảy trăm bốn mươi tư nghìn không trăm "
            "bảy mươi ba tỷ bảy trăm linh chín triệu năm trăm năm mươi mốt nghìn sáu trăm "
            "mười lăm");
}

TEST(Speech, InvalidUtf8PassesThroughUnchanged) {
  const std::string bad = "ngày 12/7\xC3\x28 \xFF";
  EXPECT_EQ(normalize_for_speech(bad), bad);
}

TEST(Speech, EmptyAndBlank) {
  EXPECT_EQ(normalize_for_speech(""), "");
  EXPECT_EQ(normalize_for_speech(" \n\t\r\n - \n"), "");
}

TEST(Speech, HugeNumbersAreReadDigitByDigit) {
  EXPECT_EQ(normalize_for_speech("99999999999999999999999"),
            "chín chín chín chín chín chín chín chín chín chín chín chín chín chín chín chín chín "
            "chín chín chín chín chín chín");
  EXPECT_EQ(normalize_for_speech("1.000.000.000.000.000"),
            "một không không không không không không không không không không không không "
            "không không không");
  EXPECT_EQ(normalize_for_speech("999.999.999.999.999"),
            "chín trăm chín mươi chín nghìn chín trăm chín mươi chín tỷ chín trăm chín mươi "
            "chín triệu chín trăm chín mươi chín nghìn chín trăm chín mươi chín");
}

// Random mixes of the characters the patterns look at: the result is one line of
// well-formed UTF-8, and it comes back at all.
TEST(Speech, NoiseNeverBreaksIt) {
  const std::vector<std::string> pieces = {
      "0", "1", "5", "9", "/", "-", "–", ".", ",", "%", "h", "g", ":", "+", " ", "\n", "*",
      "CV", "HU", "Đ", "ngày", "tháng", "thứ", "số", "giờ", "phút", "(", "”", "\t", "\u00A0",
      "UBND", "Covid", "m", "đ", "TP", "F", "ư"};
  uint32_t state = 12345;
  for (int round = 0; round < 3000; ++round) {
    std::string text;
    int length = 1 + round % 40;
    for (int k = 0; k < length; ++k) {
      state = state * 1103515245u + 12345u;
      text += pieces[(state >> 16) % pieces.size()];
    }
    std::string spoken = normalize_for_speech(text);
    ASSERT_TRUE(valid_utf8(spoken)) << '"' << text << '"';
    ASSERT_EQ(spoken.find('\n'), std::string::npos) << '"' << text << '"';
    ASSERT_EQ(spoken.find("  "), std::string::npos) << '"' << text << '"';
    ASSERT_TRUE(spoken.empty() || (spoken.front() != ' ' && spoken.back() != ' '))
        << '"' << text << '"';
  }
}

}  // namespace
}  // namespace herald
