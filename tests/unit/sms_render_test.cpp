// SMS coding, segment counting, không dấu and the segment budget, with Vietnamese text.
#include <gtest/gtest.h>

#include "directive/directive.hpp"
#include "render/sms_render.hpp"
#include "render/sms_text.hpp"
#include "text/vietnamese.hpp"

namespace herald {
namespace {

struct SizeCase {
  std::string text;
  SmsCoding coding;
  size_t units;
  size_t segments;
};

class SmsSizeTest : public ::testing::TestWithParam<SizeCase> {};

TEST_P(SmsSizeTest, CodingUnitsAndSegments) {
  const auto& c = GetParam();
  SmsSize s = measure_sms(c.text);
  EXPECT_EQ(s.coding, c.coding) << c.text;
  EXPECT_EQ(s.units, c.units) << c.text;
  EXPECT_EQ(s.segments, c.segments) << c.text;
}

INSTANTIATE_TEST_SUITE_P(
    Vietnamese, SmsSizeTest,
    ::testing::Values(
        SizeCase{"", SmsCoding::gsm7, 0, 1},
        SizeCase{"Hop BTV luc 8h", SmsCoding::gsm7, 14, 1},
        SizeCase{std::string(160, 'a'), SmsCoding::gsm7, 160, 1},
        SizeCase{std::string(161, 'a'), SmsCoding::gsm7, 161, 2},
        SizeCase{std::string(306, 'a'), SmsCoding::gsm7, 306, 2},
        SizeCase{std::string(307, 'a'), SmsCoding::gsm7, 307, 3},
        // The extension table costs two septets each.
        SizeCase{"{}[]", SmsCoding::gsm7, 8, 1},
        SizeCase{std::string(80, '['), SmsCoding::gsm7, 160, 1},
        // GSM-7 has è é ù ì ò but not Vietnamese letters: one đ makes it UCS-2.
        SizeCase{"Kính gửi", SmsCoding::ucs2, 8, 1},
        SizeCase{"đ", SmsCoding::ucs2, 1, 1},
        SizeCase{"Hà Nội", SmsCoding::ucs2, 6, 1},
        SizeCase{"é", SmsCoding::gsm7, 1, 1},
        SizeCase{"a`b", SmsCoding::ucs2, 3, 1},  // backtick is not in GSM 03.38
        SizeCase{"Ư" + std::string(69, 'a'), SmsCoding::ucs2, 70, 1},
        SizeCase{"Ư" + std::string(70, 'a'), SmsCoding::ucs2, 71, 2},
        SizeCase{"Ư" + std::string(133, 'a'), SmsCoding::ucs2, 134, 2},
        SizeCase{"Ư" + std::string(134, 'a'), SmsCoding::ucs2, 135, 3},
        // Outside the BMP: a surrogate pair, two units.
        SizeCase{"😀", SmsCoding::ucs2, 2, 1}));

TEST(SmsText, Utf16BigEndian) {
  EXPECT_EQ(to_utf16be("Ađ"), std::string("\x00\x41\x01\x11", 4));
  EXPECT_EQ(to_utf16be("😀"), std::string("\xD8\x3D\xDE\x00", 4));
}

TEST(SmsText, UnaccentedVietnameseFitsGsm7) {
  std::string s = unaccent("Đề nghị các cấp ủy tổ chức quán triệt Công văn này");
  EXPECT_EQ(s, "De nghi cac cap uy to chuc quan triet Cong van nay");
  EXPECT_TRUE(fits_gsm7(s));
}

Directive sample() {
  Directive d;
  d.id = "t/1";
  d.number = "158-CV/HU";
  d.issuer_name = "Huyện ủy Châu Thành";
  d.subject = "V/v tăng cường phòng, chống dịch Covid-19";
  d.summary = "Đề nghị quán triệt đến chi bộ, đảng viên.";
  d.body = "Các cấp ủy, chính quyền tăng cường trách nhiệm lãnh đạo.";
  return d;
}

TEST(SmsRender, FullBodyWhenItFits) {
  SmsTemplate t;
  RenderedSms r = render_sms(sample(), t, "");
  EXPECT_EQ(r.variant, "body");
  EXPECT_EQ(r.text,
            "Huyện ủy Châu Thành - CV 158-CV/HU: V/v tăng cường phòng, chống dịch Covid-19. "
            "Các cấp ủy, chính quyền tăng cường trách nhiệm lãnh đạo.");
  EXPECT_EQ(r.size.coding, SmsCoding::ucs2);
  EXPECT_EQ(r.size.segments, 3u);
}

TEST(SmsRender, FallsBackToSummaryThenSubjectThenShortenedSubject) {
  Directive d = sample();
  d.body = std::string(400, 'x');
  SmsTemplate t;
  t.max_segments = 2;
  RenderedSms r = render_sms(d, t, "");
  EXPECT_EQ(r.variant, "summary");
  EXPECT_LE(r.size.segments, 2u);
  EXPECT_NE(r.text.find("Đề nghị quán triệt"), std::string::npos);

  d.summary = std::string(300, 'y');
  r = render_sms(d, t, "");
  EXPECT_EQ(r.variant, "subject");
  EXPECT_EQ(r.text, "Huyện ủy Châu Thành - CV 158-CV/HU: V/v tăng cường phòng, chống dịch Covid-19.");

  t.max_segments = 1;
  r = render_sms(d, t, "");
  EXPECT_EQ(r.variant, "short_subject");
  EXPECT_EQ(r.size.segments, 1u);
  EXPECT_NE(r.text.find("..."), std::string::npos);
  EXPECT_EQ(r.text.rfind("Huyện ủy Châu Thành - CV 158-CV/HU: V/v", 0), 0u);
}

TEST(SmsRender, UnaccentedOptionGivesGsm7) {
  SmsTemplate t;
  t.unaccented = true;
  RenderedSms r = render_sms(sample(), t, "");
  EXPECT_EQ(r.size.coding, SmsCoding::gsm7);
  EXPECT_EQ(r.text,
            "Huyen uy Chau Thanh - CV 158-CV/HU: V/v tang cuong phong, chong dich Covid-19. "
            "Cac cap uy, chinh quyen tang cuong trach nhiem lanh dao.");
  EXPECT_EQ(r.size.segments, 1u);
}

TEST(SmsRender, ConfidentialSendsOnlyANotice) {
  Directive d = sample();
  d.confidentiality = Confidentiality::mat;
  RenderedSms r = render_sms(d, SmsTemplate{}, "");
  EXPECT_EQ(r.variant, "notice");
  EXPECT_EQ(r.text.find("tăng cường"), std::string::npos);
  EXPECT_EQ(r.text.find("Covid"), std::string::npos);
  EXPECT_NE(r.text.find("158-CV/HU"), std::string::npos);
}

TEST(SmsRender, TemplatePlaceholdersAndTidying) {
  EXPECT_EQ(fill_template("{issuer}: {subject}. {text} {link}",
                          {{"issuer", "UBND"}, {"subject", "Họp"}, {"text", ""}, {"link", ""}}),
            "UBND: Họp.");
  EXPECT_EQ(fill_template("{unknown} x", {}), "{unknown} x");
}

}  // namespace
}  // namespace herald
