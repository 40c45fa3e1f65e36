// text/vietnamese: tiếng Việt không dấu, alias match keys, UTF-8 validation.
#include "text/vietnamese.hpp"

#include <gtest/gtest.h>

namespace herald {
namespace {

struct FoldCase {
  const char* name;
  std::string input, expected;
};

void PrintTo(const FoldCase& c, std::ostream* os) { *os << c.name; }

class UnaccentTest : public ::testing::TestWithParam<FoldCase> {};

TEST_P(UnaccentTest, Folds) { EXPECT_EQ(unaccent(GetParam().input), GetParam().expected); }

INSTANTIATE_TEST_SUITE_P(
    Cases, UnaccentTest,
    ::testing::Values(
        FoldCase{"CommuneName", "Ủy ban nhân dân xã Hồ Đắc Kiện", "Uy ban nhan dan xa Ho Dac Kien"},
        FoldCase{"DStroke", "đường Đinh Tiên Hoàng, ĐĐđđ", "duong Dinh Tien Hoang, DDdd"},
        FoldCase{"AllA", "àáảãạăằắẳẵặâầấẩẫậ", "aaaaaaaaaaaaaaaaa"},
        FoldCase{"AllUpperA", "ÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬ", "AAAAAAAAAAAAAAAAA"},
        FoldCase{"AllE", "èéẻẽẹêềếểễệ ÈÉẺẼẸÊỀẾỂỄỆ", "eeeeeeeeeee EEEEEEEEEEE"},
        FoldCase{"AllI", "ìíỉĩị ÌÍỈĨỊ", "iiiii IIIII"},
        FoldCase{"AllO", "òóỏõọôồốổỗộơờớởỡợ ÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢ",
                 "ooooooooooooooooo OOOOOOOOOOOOOOOOO"},
        FoldCase{"AllU", "ùúủũụưừứửữự ÙÚỦŨỤƯỪỨỬỮỰ", "uuuuuuuuuuu UUUUUUUUUUU"},
        FoldCase{"AllY", "ỳýỷỹỵ ỲÝỶỸỴ", "yyyyy YYYYY"},
        // NFD: "Ủy" = U + horn + hook above, "Hồ" = o + circumflex + grave,
        // "Đắc" = Đ (no decomposition) + a + breve + acute, "Kiện" = e + dot below + circumflex.
        FoldCase{"Decomposed",
                 "U\u031B\u0309y ban nha\u0302n da\u0302n xa\u0303 Ho\u0302\u0300 "
                 "\u0110a\u0306\u0301c Kie\u0323\u0302n",
                 "Uy ban nhan dan xa Ho Dac Kien"},
        FoldCase{"AsciiUntouched", "OK 158-CV/HU (12/7/2021) #a @b ~!\t\n",
                 "OK 158-CV/HU (12/7/2021) #a @b ~!\t\n"},
        FoldCase{"OtherScriptsKept", "Ça, ñ, ß, Москва, 北京, 🙂", "Ça, ñ, ß, Москва, 北京, 🙂"},
        FoldCase{"Empty", "", ""}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Unaccent, MalformedBytesBecomeReplacementCharacter) {
  EXPECT_EQ(unaccent("a\xFF" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(unaccent("Hồ\xE1"), "Ho\xEF\xBF\xBD");  // truncated at the end
}

struct KeyCase {
  const char* name;
  std::string input, expected;
};

void PrintTo(const KeyCase& c, std::ostream* os) { *os << c.name; }

class MatchKeyTest : public ::testing::TestWithParam<KeyCase> {};

TEST_P(MatchKeyTest, Normalises) { EXPECT_EQ(match_key(GetParam().input), GetParam().expected); }

INSTANTIATE_TEST_SUITE_P(
    Cases, MatchKeyTest,
    ::testing::Values(
        KeyCase{"KinhGuiLine", "- Ủy ban nhân dân các xã, thị trấn,", "uy ban nhan dan cac xa thi tran"},
        KeyCase{"CaseAndSpacing", "  KÍNH GỬI:  Các Ban,ngành   ", "kinh gui cac ban nganh"},
        KeyCase{"NoiNhanLine", "- Lưu: VP Huyện ủy.", "luu vp huyen uy"},
        KeyCase{"DigitsKept", "Công văn 158-CV/HU", "cong van 158 cv hu"},
        KeyCase{"OnlyPunctuation", " -,.;: ", ""},
        KeyCase{"Empty", "", ""}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(MatchKey, DiacriticsCaseAndPunctuationDoNotMatter) {
  EXPECT_EQ(match_key("UỶ BAN NHÂN DÂN CÁC XÃ, THỊ TRẤN"),
            match_key("uy ban nhan dan cac xa thi tran"));
  EXPECT_EQ(match_key("Ủy ban nhân dân các xã, thị trấn"), match_key("U\u031B\u0309y ban nha\u0302n "
                                                                     "da\u0302n ca\u0301c xa\u0303 "
                                                                     "thi\u0323 tra\u0302\u0301n"));
}

struct Utf8Case {
  const char* name;
  std::string bytes;
  bool valid;
};

void PrintTo(const Utf8Case& c, std::ostream* os) { *os << c.name; }

class Utf8Test : public ::testing::TestWithParam<Utf8Case> {};

TEST_P(Utf8Test, Validates) { EXPECT_EQ(valid_utf8(GetParam().bytes), GetParam().valid); }

INSTANTIATE_TEST_SUITE_P(
    Cases, Utf8Test,
    ::testing::Values(
        Utf8Case{"Empty", "", true}, Utf8Case{"Ascii", "OK 158", true},
        Utf8Case{"Vietnamese", "Hồ Đắc Kiện", true},
        Utf8Case{"FourBytes", "\xF0\x9F\x99\x82", true},
        Utf8Case{"LastBmp", "\xEF\xBF\xBF", true},
        Utf8Case{"MaxCodePoint", "\xF4\x8F\xBF\xBF", true},
        Utf8Case{"TwoByteAtEnd", "ab\xC3\xA9", true},
        Utf8Case{"OverlongSlash2", "\xC0\xAF", false},
        Utf8Case{"OverlongC1", "\xC1\xBF", false},
        Utf8Case{"OverlongSlash3", "\xE0\x80\xAF", false},
        Utf8Case{"OverlongSlash4", "\xF0\x80\x80\xAF", false},
        Utf8Case{"HighSurrogate", "\xED\xA0\x80", false},
        Utf8Case{"LowSurrogate", "\xED\xBF\xBF", false},
        Utf8Case{"BeyondMax", "\xF4\x90\x80\x80", false},
        Utf8Case{"F5Lead", "\xF5\x80\x80\x80", false},
        Utf8Case{"TruncatedThree", "Ki\xE1\xBB", false},
        Utf8Case{"TruncatedTwo", "a\xC3", false},
        Utf8Case{"LoneContinuation", "\x80", false},
        Utf8Case{"BadContinuation", "\xC3\x28", false},
        Utf8Case{"FF", "\xFF", false},
        Utf8Case{"FiveBytes", "\xF8\x88\x80\x80\x80", false}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace herald

namespace herald {
namespace {

TEST(Utf8, FirstInvalidByteOffset) {
  EXPECT_EQ(invalid_utf8_at("Hồ Đắc Kiện"), std::string_view::npos);
  EXPECT_EQ(invalid_utf8_at(""), std::string_view::npos);
  EXPECT_EQ(invalid_utf8_at("\xFF"), 0u);
  EXPECT_EQ(invalid_utf8_at("Hồ\xC3\x28"), 4u);        // "Hồ" is 4 bytes
  EXPECT_EQ(invalid_utf8_at("ab\xED\xA0\x80z"), 2u);  // surrogate
  EXPECT_EQ(invalid_utf8_at("abc\xE1\xBB"), 3u);      // truncated at the end
}

}  // namespace
}  // namespace herald

namespace herald {
namespace {

TEST(Utf8Prefix, CutsBeforeACharacterNotInsideIt) {
  EXPECT_EQ(utf8_prefix("Đã nhận", 100), "Đã nhận");
  EXPECT_EQ(utf8_prefix("Đã nhận", 1), "");        // "Đ" is two bytes
  EXPECT_EQ(utf8_prefix("Đã nhận", 2), "Đ");
  EXPECT_EQ(utf8_prefix("Đã nhận", 3), "Đ");       // "ã" is two bytes
  EXPECT_EQ(utf8_prefix("ab", 0), "");
  EXPECT_TRUE(valid_utf8(utf8_prefix("thử nghiệm dài", 9)));
}

}  // namespace
}  // namespace herald
