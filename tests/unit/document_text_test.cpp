// document_text: a công văn in its usual text layout parses into the fields of a
// directive; the seed 158-CV/HU parses whole, a UBND xã notice parses right, what is
// missing is named, unit names are title-cased, and no input crashes or hangs.
#include "directive/document_text.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace herald {
namespace {

std::string read_seed() {
  std::ifstream in(std::string(HERALD_SOURCE_DIR) + "/tests/data/seed-158-CV-HU.txt", std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool has_problem(const ParsedDocument& d, const std::string& p) {
  return std::find(d.problems.begin(), d.problems.end(), p) != d.problems.end();
}

std::string problems(const ParsedDocument& d) {
  std::string out;
  for (const auto& p : d.problems) out += "[" + p + "] ";
  return out;
}

TEST(DocumentText, SeedGivesEveryField) {
  std::string seed = read_seed();
  ASSERT_FALSE(seed.empty()) << "tests/data/seed-158-CV-HU.txt missing";
  ParsedDocument d = parse_document_text(seed);
  EXPECT_TRUE(d.problems.empty()) << problems(d);
  EXPECT_EQ(d.issuer_parent, "Đảng bộ tỉnh Sóc Trăng");  // title-cased like the issuer
  EXPECT_EQ(d.issuer_name, "Huyện ủy Châu Thành");
  EXPECT_EQ(d.number, "158-CV/HU");
  EXPECT_EQ(d.place, "Châu Thành");
  EXPECT_EQ(d.issued_date, "2021-07-12");
  EXPECT_EQ(d.subject,
            "V/v tăng cường trách nhiệm lãnh đạo của các cấp ủy, chính quyền, sự nêu gương của cán bộ, "
            "đảng viên trong công tác phòng, chống dịch Covid-19");
  EXPECT_TRUE(d.subject.starts_with("V/v tăng cường trách nhiệm lãnh đạo của các cấp ủy"));
  EXPECT_TRUE(d.subject.ends_with("chống dịch Covid-19"));

  ASSERT_EQ(d.addressees.size(), 3u);
  EXPECT_EQ(d.addressees[0].text, "Chi bộ, đảng bộ trực thuộc Huyện ủy");
  EXPECT_EQ(d.addressees[0].line, 19u);
  EXPECT_EQ(d.addressees[1].text, "Ủy ban nhân dân các xã, thị trấn");
  EXPECT_EQ(d.addressees[1].line, 20u);
  EXPECT_EQ(d.addressees[2].text, "Các ban, ngành, đoàn thể huyện và các cơ quan Trung ương đóng tại địa phương");
  EXPECT_EQ(d.addressees[2].line, 21u);

  EXPECT_TRUE(d.body.starts_with("Thực hiện Công văn số 169-CV/TU")) << d.body.substr(0, 80);
  EXPECT_NE(d.body.find("\n\n1. Các cấp ủy, chính quyền"), std::string::npos);
  EXPECT_NE(d.body.find("4. Đề nghị các cấp ủy"), std::string::npos);
  EXPECT_NE(d.body.find("xem xét trách nhiệm đối với người đứng cấp ủy"), std::string::npos);
  EXPECT_EQ(d.body.find("**"), std::string::npos);
  EXPECT_EQ(d.body.find("Nơi nhận"), std::string::npos);
  EXPECT_TRUE(d.body.ends_with("đoàn viên, hội viên.")) << d.body.substr(d.body.size() - 60);
  EXPECT_EQ(std::count(d.body.begin(), d.body.end(), '\n'), 8);  // 5 paragraphs

  ASSERT_EQ(d.copies_to.size(), 3u);
  EXPECT_EQ(d.copies_to[0].text, "Như trên");
  EXPECT_EQ(d.copies_to[0].line, 36u);
  EXPECT_EQ(d.copies_to[1].text, "Các đồng chí Huyện ủy viên");
  EXPECT_EQ(d.copies_to[2].text, "Lưu Văn phòng Huyện ủy");
  EXPECT_EQ(d.copies_to[2].line, 38u);

  EXPECT_EQ(d.signer_title, "T/M BAN THƯỜNG VỤ, BÍ THƯ");
  EXPECT_NE(d.signer_title.find("BAN THƯỜNG VỤ"), std::string::npos);
  EXPECT_EQ(d.signer_name, "Phạm Anh Minh");
}

TEST(DocumentText, SeedWithCrLfAndBomParsesTheSame) {
  std::string seed = read_seed(), crlf = "\xEF\xBB\xBF";
  for (char c : seed) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  ParsedDocument a = parse_document_text(seed), b = parse_document_text(crlf);
  EXPECT_TRUE(b.problems.empty()) << problems(b);
  EXPECT_EQ(a.number, b.number);
  EXPECT_EQ(a.subject, b.subject);
  EXPECT_EQ(a.body, b.body);
  ASSERT_EQ(b.addressees.size(), 3u);
  EXPECT_EQ(b.addressees[2].line, 21u);
  EXPECT_EQ(a.signer_name, b.signer_name);
}

constexpr const char* kXaNotice =
    "ỦY BAN NHÂN DÂN\n"
    "XÃ AN HIỆP\n"
    "\n"
    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\n"
    "Độc lập - Tự do - Hạnh phúc\n"
    "---------------\n"
    "\n"
    "Số: 45/TB-UBND\n"
    "An Hiệp, ngày 05 tháng 01 năm 2022\n"
    "\n"
    "THÔNG BÁO\n"
    "Về việc tổ chức huấn luyện dân quân năm 2022\n"
    "\n"
    "Kính gửi: Ban Chỉ huy Quân sự xã\n"
    "\n"
    "Căn cứ Kế hoạch số 12/KH-UBND ngày 02/01/2022 của Ủy ban nhân dân huyện,\n"
    "Ủy ban nhân dân xã thông báo như sau:\n"
    "\n"
    "1. Thời gian: từ ngày 10/01/2022.\n"
    "2. Địa điểm: Trụ sở Ban Chỉ huy Quân sự xã.\n"
    "\n"
    "Nơi nhận:\n"
    "- Như trên;\n"
    "- Lưu: VT.\n"
    "\n"
    "TM. ỦY BAN NHÂN DÂN\n"
    "CHỦ TỊCH\n"
    "(Đã ký)\n"
    "\n"
    "**Nguyễn Văn Hùng**\n";

TEST(DocumentText, XaNoticeParses) {
  ParsedDocument d = parse_document_text(kXaNotice);
  EXPECT_TRUE(d.problems.empty()) << problems(d);
  EXPECT_EQ(d.issuer_name, "Ủy ban nhân dân xã An Hiệp");
  EXPECT_EQ(d.issuer_parent, "");
  EXPECT_EQ(d.number, "45/TB-UBND");
  EXPECT_EQ(d.place, "An Hiệp");
  EXPECT_EQ(d.issued_date, "2022-01-05");
  EXPECT_EQ(d.subject, "Về việc tổ chức huấn luyện dân quân năm 2022");
  ASSERT_EQ(d.addressees.size(), 1u);
  EXPECT_EQ(d.addressees[0].text, "Ban Chỉ huy Quân sự xã");
  EXPECT_EQ(d.addressees[0].line, 14u);
  EXPECT_EQ(d.body,
            "Căn cứ Kế hoạch số 12/KH-UBND ngày 02/01/2022 của Ủy ban nhân dân huyện, Ủy ban nhân dân xã "
            "thông báo như sau:\n\n1. Thời gian: từ ngày 10/01/2022.\n2. Địa điểm: Trụ sở Ban Chỉ huy Quân sự xã.");
  ASSERT_EQ(d.copies_to.size(), 2u);
  EXPECT_EQ(d.copies_to[0].text, "Như trên");
  EXPECT_EQ(d.copies_to[1].text, "Lưu: VT");
  EXPECT_EQ(d.copies_to[1].line, 24u);
  EXPECT_EQ(d.signer_title, "TM. ỦY BAN NHÂN DÂN, CHỦ TỊCH");
  EXPECT_EQ(d.signer_name, "Nguyễn Văn Hùng");
}

TEST(DocumentText, FlattenedTwoColumnHeader) {
  ParsedDocument d = parse_document_text(
      "ĐẢNG BỘ TỈNH SÓC TRĂNG        ĐẢNG CỘNG SẢN VIỆT NAM\n"
      "HUYỆN ỦY CHÂU THÀNH\n"
      "*\n"
      "Số 158- CV/HU\tChâu Thành, ngày 12/7/2021\n"
      "V/v phòng, chống dịch\n"
      "\n"
      "Kính gửi:\n"
      "\n"
      "- Chi bộ trực thuộc,\n"
      "- Các ban, ngành huyện.\n"
      "\n"
      "Nội dung.\n"
      "\n"
      "Nơi nhận:                    T/M BAN THƯỜNG VỤ\n"
      "- Như trên,                  BÍ THƯ\n"
      "- Lưu.\n"
      "                             Phạm Anh Minh\n");
  EXPECT_TRUE(d.problems.empty()) << problems(d);
  EXPECT_EQ(d.issuer_parent, "Đảng bộ tỉnh Sóc Trăng");
  EXPECT_EQ(d.issuer_name, "Huyện ủy Châu Thành");
  EXPECT_EQ(d.number, "158-CV/HU");
  EXPECT_EQ(d.issued_date, "2021-07-12");
  EXPECT_EQ(d.place, "Châu Thành");
  ASSERT_EQ(d.addressees.size(), 2u);
  EXPECT_EQ(d.addressees[0].line, 9u);
  EXPECT_EQ(d.body, "Nội dung.");
  ASSERT_EQ(d.copies_to.size(), 2u);
  EXPECT_EQ(d.copies_to[1].text, "Lưu");
  EXPECT_EQ(d.signer_title, "T/M BAN THƯỜNG VỤ, BÍ THƯ");
  EXPECT_EQ(d.signer_name, "Phạm Anh Minh");
}

TEST(DocumentText, NumberForms) {
  struct Case {
    const char* line;
    const char* number;
  };
  for (const Case& c : {Case{"Số 158- CV/HU", "158-CV/HU"}, Case{"Số: 158/QĐ-UBND", "158/QĐ-UBND"},
                        Case{"Số 12/2021/TT-BYT", "12/2021/TT-BYT"}, Case{"SỐ: 45 / TB - UBND", "45/TB-UBND"},
                        Case{"Số:7/KH-UBND", "7/KH-UBND"}}) {
    ParsedDocument d = parse_document_text(std::string("HUYỆN ỦY CHÂU THÀNH\n") + c.line + "\n");
    EXPECT_EQ(d.number, c.number) << c.line;
  }
  // "Sở ..." and "Số lượng ..." are not number lines.
  ParsedDocument d = parse_document_text("SỞ Y TẾ TỈNH SÓC TRĂNG\nSố lượng người tham dự đông.\n");
  EXPECT_EQ(d.number, "");
  EXPECT_EQ(d.issuer_name, "Sở Y tế tỉnh Sóc Trăng");
  EXPECT_TRUE(has_problem(d, "no document number (Số ...)"));
}

TEST(DocumentText, DateForms) {
  struct Case {
    const char* line;
    const char* place;
    const char* iso;
  };
  for (const Case& c : {Case{"Châu Thành, ngày 12 tháng 7 năm 2021", "Châu Thành", "2021-07-12"},
                        Case{"An Hiệp, ngày 05 tháng 01 năm 2022", "An Hiệp", "2022-01-05"},
                        Case{"Sóc Trăng, ngày 12/7/2021", "Sóc Trăng", "2021-07-12"},
                        Case{"Ngày 29 tháng 2 năm 2024", "", "2024-02-29"},
                        Case{"TP. Hồ Chí Minh, ngày 1-10-2023", "TP. Hồ Chí Minh", "2023-10-01"}}) {
    ParsedDocument d = parse_document_text(std::string("Số 1/TB\n") + c.line + "\n");
    EXPECT_EQ(d.place, c.place) << c.line;
    EXPECT_EQ(d.issued_date, c.iso) << c.line;
    EXPECT_FALSE(has_problem(d, "no date line")) << c.line;
  }
  for (const char* bad : {"Châu Thành, ngày 31 tháng 2 năm 2021", "Châu Thành, ngày 29/2/2021",
                          "Châu Thành, ngày 12 tháng 13 năm 2021", "Châu Thành, ngày 0 tháng 1 năm 2021"}) {
    ParsedDocument d = parse_document_text(std::string("Số 1/TB\n") + bad + "\n");
    EXPECT_EQ(d.issued_date, "") << bad;
    EXPECT_EQ(d.place, "Châu Thành") << bad;
    EXPECT_TRUE(has_problem(d, std::string("invalid date: ") + bad)) << bad << " " << problems(d);
  }
}

TEST(DocumentText, MissingPartsAreListed) {
  ParsedDocument d = parse_document_text(
      "Thực hiện chỉ đạo của cấp trên, đề nghị các đơn vị triển khai ngay các biện pháp phòng, chống dịch.\n");
  EXPECT_TRUE(d.body.starts_with("Thực hiện chỉ đạo"));
  for (const char* p : {"no issuer", "no document number (Số ...)", "no date line", "no V/v subject",
                        "no Kính gửi list", "no Nơi nhận list", "no signer name"})
    EXPECT_TRUE(has_problem(d, p)) << p << ": " << problems(d);
  EXPECT_FALSE(has_problem(d, "no body"));

  // The seed without its number, date and Kính gửi lines.
  std::string seed = read_seed(), cut;
  std::istringstream in(seed);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("Số ") || line.find("ngày 12 tháng 7") != std::string::npos) continue;
    if (line.starts_with("Kính gửi") || line.starts_with("- Ủy ban") || line.starts_with("- Các ban") ||
        line.starts_with("Trung ương"))
      continue;
    cut += line + "\n";
  }
  d = parse_document_text(cut);
  EXPECT_EQ(d.problems, (std::vector<std::string>{"no document number (Số ...)", "no date line", "no Kính gửi list"}))
      << problems(d);
  EXPECT_EQ(d.issuer_name, "Huyện ủy Châu Thành");
  EXPECT_TRUE(d.body.starts_with("Thực hiện Công văn số 169-CV/TU"));
  EXPECT_EQ(d.signer_name, "Phạm Anh Minh");

  d = parse_document_text("");
  EXPECT_FALSE(d.problems.empty());
  EXPECT_TRUE(has_problem(d, "no body"));
}

TEST(DocumentText, InvalidUtf8IsOnlyThatProblem) {
  std::string seed = read_seed();
  seed[40] = '\xFF';
  ParsedDocument d = parse_document_text(seed);
  EXPECT_EQ(d.problems, std::vector<std::string>{"not UTF-8"});
  EXPECT_EQ(d.number, "");
  EXPECT_EQ(d.body, "");
  EXPECT_TRUE(d.addressees.empty());
}

TEST(DocumentText, NfdKeyLinesAreRecognised) {
  // "Số", "ngày", "tháng", "năm", "Kính gửi", "Nơi nhận" with combining marks.
  std::string nfd =
      "HUYE\xCC\x82\xCC\xA3N U\xCC\x89Y CHA\xCC\x82U THA\xCC\x80NH\n"
      "So\xCC\x82\xCC\x81 158- CV/HU\n"
      "Cha\xCC\x82u Tha\xCC\x80nh, nga\xCC\x80y 12 tha\xCC\x81ng 7 na\xCC\x86m 2021\n"
      "V/v thu\xCC\x9B\xCC\x89\n"
      "\n"
      "Ki\xCC\x81nh gu\xCC\x9B\xCC\x89i: Chi bo\xCC\x82\xCC\xA3\n"
      "\n"
      "No\xCC\x82\xCC\x80i dung.\n"
      "\n"
      "No\xCC\x9Bi nha\xCC\x82\xCC\xA3n:\n"
      "- Lu\xCC\x9Bu.\n";
  ParsedDocument d = parse_document_text(nfd);
  EXPECT_EQ(d.number, "158-CV/HU");
  EXPECT_EQ(d.issued_date, "2021-07-12");
  ASSERT_EQ(d.addressees.size(), 1u);
  ASSERT_EQ(d.copies_to.size(), 1u);
  EXPECT_FALSE(d.issuer_name.empty());
}

TEST(DocumentText, TitleCase) {
  struct Case {
    const char* in;
    const char* out;
  };
  for (const Case& c : {
           Case{"HUYỆN ỦY CHÂU THÀNH", "Huyện ủy Châu Thành"},
           Case{"ỦY BAN NHÂN DÂN XÃ AN HIỆP", "Ủy ban nhân dân xã An Hiệp"},
           Case{"ỦY BAN NHÂN DÂN HUYỆN CHÂU THÀNH", "Ủy ban nhân dân huyện Châu Thành"},
           Case{"TỈNH ỦY SÓC TRĂNG", "Tỉnh ủy Sóc Trăng"},
           Case{"ĐẢNG BỘ TỈNH SÓC TRĂNG", "Đảng bộ tỉnh Sóc Trăng"},
           Case{"ĐẢNG ỦY XÃ AN HIỆP", "Đảng ủy xã An Hiệp"},
           Case{"HUYỆN UỶ CHÂU THÀNH", "Huyện ủy Châu Thành"},
           Case{"UBND XÃ AN HIỆP", "UBND xã An Hiệp"},
           Case{"ỦY BAN NHÂN DÂN THỊ TRẤN CHÂU THÀNH", "Ủy ban nhân dân thị trấn Châu Thành"},
           Case{"ỦY BAN NHÂN DÂN THÀNH PHỐ SÓC TRĂNG", "Ủy ban nhân dân thành phố Sóc Trăng"},
           Case{"HỘI ĐỒNG NHÂN DÂN TỈNH SÓC TRĂNG", "Hội đồng nhân dân tỉnh Sóc Trăng"},
           Case{"BAN THƯỜNG VỤ HUYỆN ỦY", "Ban Thường vụ Huyện ủy"},
           Case{"VĂN PHÒNG HUYỆN ỦY", "Văn phòng Huyện ủy"},
           Case{"VĂN PHÒNG ỦY BAN NHÂN DÂN TỈNH", "Văn phòng Ủy ban nhân dân tỉnh"},
           Case{"SỞ Y TẾ TỈNH SÓC TRĂNG", "Sở Y tế tỉnh Sóc Trăng"},
           Case{"CÔNG AN HUYỆN CHÂU THÀNH", "Công an huyện Châu Thành"},
           Case{"BAN CHỈ HUY QUÂN SỰ XÃ AN HIỆP", "Ban Chỉ huy Quân sự xã An Hiệp"},
           Case{"CHI BỘ ẤP AN THẠNH", "Chi bộ ấp An Thạnh"},
           Case{"  HUYỆN   ỦY  CHÂU THÀNH ", "Huyện ủy Châu Thành"},
       }) {
    EXPECT_EQ(vietnamese_title_case(c.in), c.out) << c.in;
  }
  EXPECT_EQ(vietnamese_to_lower(U'Ủ'), U'ủ');
  EXPECT_EQ(vietnamese_to_lower(U'Đ'), U'đ');
  EXPECT_EQ(vietnamese_to_lower(U'Ư'), U'ư');
  EXPECT_EQ(vietnamese_to_lower(U'Ỹ'), U'ỹ');
  EXPECT_EQ(vietnamese_to_upper(U'ầ'), U'Ầ');
  EXPECT_EQ(vietnamese_to_upper(U'ơ'), U'Ơ');
  EXPECT_EQ(vietnamese_to_upper(U'×'), U'×');
  EXPECT_EQ(vietnamese_title_case(""), "");
}

// Random edits of the seed and of random text: nothing crashes, hangs or reads outside
// its input (run under ASan/UBSan), and every result is valid UTF-8 when the input was.
TEST(DocumentText, FuzzNeverCrashes) {
  std::string seed = read_seed();
  ASSERT_FALSE(seed.empty());
  std::mt19937 rng(158);
  auto pick = [&](size_t n) { return n == 0 ? size_t{0} : static_cast<size_t>(rng() % n); };
  const std::vector<std::string> pieces = {"\n",        "\n\n",     "  ",       "\t",       "Số ",      "ngày ",
                                           " tháng ",   " năm ",    "V/v ",     "Kính gửi:", "Nơi nhận:", "- ",
                                           "**",        "\\*",      "ĐẢNG CỘNG SẢN VIỆT NAM", "T/M ",  "Ủ",
                                           "31",        "/",        "ỦY BAN NHÂN DÂN\nXÃ ", "\r",      "\xC2\xA0",
                                           "\xCC\x81",  "#",        ">",        "*",        "_",        "1. ",
                                           "\xEF\xBB\xBF", "a)",    "9999",     "ngày 1/1/"};
  std::vector<std::string> lines;
  {
    std::istringstream in(seed);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
  }
  for (int iter = 0; iter < 4000; ++iter) {
    std::string doc;
    switch (iter % 4) {
      case 0: {  // byte-level mutations of the seed
        doc = seed;
        for (int k = 0, n = 1 + static_cast<int>(pick(20)); k < n; ++k) {
          size_t at = pick(doc.size() + 1);
          switch (pick(4)) {
            case 0: doc.insert(at, pieces[pick(pieces.size())]); break;
            case 1: doc.erase(at, pick(40)); break;
            case 2: if (at < doc.size()) doc[at] = static_cast<char>(rng()); break;
            default: doc.insert(at, doc.substr(pick(doc.size()), pick(200))); break;
          }
        }
        break;
      }
      case 1: {  // shuffled, dropped and repeated lines
        for (int k = 0, n = static_cast<int>(pick(60)); k < n; ++k) doc += lines[pick(lines.size())] + "\n";
        break;
      }
      case 2: {  // random pieces
        for (int k = 0, n = static_cast<int>(pick(80)); k < n; ++k) doc += pieces[pick(pieces.size())];
        break;
      }
      default: {  // random bytes
        for (int k = 0, n = static_cast<int>(pick(300)); k < n; ++k) doc += static_cast<char>(rng());
        break;
      }
    }
    ParsedDocument d = parse_document_text(doc);
    if (d.problems == std::vector<std::string>{"not UTF-8"}) continue;
    for (const auto& a : d.addressees) EXPECT_GE(a.line, 1u);
    EXPECT_FALSE(d.body.find("**") != std::string::npos && doc.find("\\*\\*") == std::string::npos &&
                 doc.find("\\**") == std::string::npos && doc.find("*\\*") == std::string::npos)
        << doc;
  }
}

TEST(DocumentText, LargeInputsAreLinear) {
  std::string seed = read_seed();
  std::string big;
  while (big.size() < (1u << 20)) big += seed;
  std::string one_line(1u << 20, 'a');
  for (size_t k = 7; k < one_line.size(); k += 11) one_line[k] = ' ';
  std::string spaces(1u << 20, ' ');
  std::string newlines(1u << 20, '\n');
  std::string bullets;
  bullets += "Kính gửi:\n";
  while (bullets.size() < (1u << 20)) bullets += "- Ủy ban nhân dân xã,\n";
  std::string upper;
  while (upper.size() < (1u << 20)) upper += "HUYỆN ỦY CHÂU THÀNH   ĐẢNG CỘNG SẢN VIỆT NAM\n";
  for (const std::string* in : {&big, &one_line, &spaces, &newlines, &bullets, &upper}) {
    auto t0 = std::chrono::steady_clock::now();
    ParsedDocument d = parse_document_text(*in);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(ms, 20000) << "input of " << in->size() << " bytes";
    EXPECT_FALSE(d.problems.empty() && in != &big);
  }
  ParsedDocument d = parse_document_text(big);
  EXPECT_EQ(d.number, "158-CV/HU");
}

}  // namespace
}  // namespace herald
