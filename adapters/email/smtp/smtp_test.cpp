// SMTP gateway: the MIME message (RFC 2047 headers with Vietnamese, folding, base64 UTF-8
// parts, CRLF, a Message-ID stable per delivery), the confidential notice, SMTP reply
// codes onto the shared error set, and the configuration the factory refuses. Cases are
// data in testdata/ next to this file.
#include "adapters/email/smtp/smtp.hpp"

#include <cstdlib>
#include <map>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "directive/directive.hpp"
#include "adapters/email/email_content.hpp"
#include "adapters/email/mime.hpp"
#include "gateway_support.hpp"

namespace json = boost::json;

namespace herald {
namespace {

constexpr const char* kPassword = "smtp-pass-5e1d";
constexpr const char* kToken = "0123456789abcdef0123456789abcdef";
constexpr int64_t kFixedNow = 1626051600000;  // 2021-07-12T01:00:00Z

std::string testdata(const std::string& relative) {
  return test::source_path("adapters/email/smtp/testdata/" + relative);
}

std::shared_ptr<Gateway> gateway(const std::string& file) {
  static std::map<std::string, std::shared_ptr<Gateway>> built;
  if (auto it = built.find(file); it != built.end()) return it->second;
  setenv("HERALD_TEST_SMTP_PASSWORD", kPassword, 1);
  auto g = test::gateway_from_yaml("mail", test::read_file(testdata(file)));
  unsetenv("HERALD_TEST_SMTP_PASSWORD");
  if (auto* s = dynamic_cast<SmtpGateway*>(g.get())) s->clock = [] { return kFixedNow; };
  built[file] = g;
  return g;
}

const Directive& seed() {
  static const Directive d = *parse_directive(test::seed_json()).directive;
  return d;
}

OutboundMessage to_chairman(const Directive& d) {
  OutboundMessage m;
  m.delivery_id = 7;
  m.token = kToken;
  m.channel = Channel::email;
  m.address = "chutich@ubnd.chauthanh.example";
  m.recipient_name = "Nguyễn Văn Bình (Chủ tịch UBND huyện)";
  m.directive = &d;
  return m;
}

std::string unbase64(std::string_view in) {
  std::string out;
  int bits = 0;
  uint32_t acc = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+') v = 62;
    else if (c == '/') v = 63;
    else continue;  // padding, line breaks
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    i += n;
  }
  return true;
}

std::vector<std::string> lines_of(const std::string& msg) {
  std::vector<std::string> out;
  for (size_t pos = 0; pos < msg.size();) {
    size_t end = msg.find("\r\n", pos);
    if (end == std::string::npos) end = msg.size();
    out.push_back(msg.substr(pos, end - pos));
    pos = end + 2;
  }
  return out;
}

// The unfolded value of header `name` in `msg` (headers end at the first empty line).
std::string header(const std::string& msg, const std::string& name) {
  std::string value;
  bool in = false;
  for (const auto& l : lines_of(msg)) {
    if (l.empty()) break;
    if (l[0] == ' ' || l[0] == '\t') {
      if (in) value += l;
      continue;
    }
    in = l.rfind(name + ": ", 0) == 0;
    if (in) value = l.substr(name.size() + 2);
  }
  return value;
}

// Decodes a header made of encoded-words (and checks each one's shape on the way).
std::string decode_words(const std::string& value) {
  std::string out;
  size_t pos = 0;
  while ((pos = value.find("=?UTF-8?B?", pos)) != std::string::npos) {
    size_t end = value.find("?=", pos + 10);
    EXPECT_NE(end, std::string::npos);
    EXPECT_LE(end + 2 - pos, 75u) << "encoded-word longer than 75 characters";
    std::string piece = unbase64(value.substr(pos + 10, end - pos - 10));
    EXPECT_TRUE(valid_utf8(piece)) << "a word splits a character";
    out += piece;
    pos = end + 2;
  }
  return out;
}

// The decoded body of the part with `content_type`.
std::string part(const std::string& msg, const std::string& content_type) {
  size_t at = msg.find("Content-Type: " + content_type);
  if (at == std::string::npos) return {};
  size_t start = msg.find("\r\n\r\n", at) + 4;
  size_t end = msg.find("\r\n--", start);
  return unbase64(msg.substr(start, end - start));
}

// ---- pure MIME pieces -------------------------------------------------------------------

TEST(Mime, Base64KnownVectors) {  // RFC 4648 section 10
  const std::pair<const char*, const char*> v[] = {{"", ""},           {"f", "Zg=="},         {"fo", "Zm8="},
                                                   {"foo", "Zm9v"},    {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                                   {"foobar", "Zm9vYmFy"}};
  for (const auto& [in, out] : v) EXPECT_EQ(mime::base64(in), out) << in;
  const std::string long_text(200, 'x');
  for (const auto& l : lines_of(mime::base64_lines(long_text)))
    EXPECT_LE(l.size(), 76u);
}

class MimeHeader : public ::testing::TestWithParam<test::Case> {};

TEST_P(MimeHeader, EncodesAndFolds) {
  const json::object& c = GetParam().data;
  EXPECT_EQ(mime::encode_header(test::str(c, "header"), test::str(c, "input")), test::str(c, "expect"));
}

INSTANTIATE_TEST_SUITE_P(Testdata, MimeHeader, ::testing::ValuesIn(test::read_cases(testdata("headers.json"))),
                         [](const auto& info) { return test::test_name(info.param.name); });

TEST(Mime, LongVietnameseSubjectFoldsOnCharacterBoundaries) {
  const std::string subject = "[158-CV/HU] " + seed().subject;
  const std::string folded = mime::encode_header("Subject", subject);
  const auto lines = lines_of("Subject: " + folded);
  ASSERT_GT(lines.size(), 3u);
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_LE(lines[i].size(), 78u) << lines[i];
    if (i) {
      EXPECT_EQ(lines[i][0], ' ') << "continuation lines start with white space";
    }
  }
  EXPECT_EQ(decode_words(folded), subject);
}

TEST(Mime, AddressesQuoteOrEncodeTheDisplayName) {
  EXPECT_EQ(mime::address("To", "", "a@b.vn"), "a@b.vn");
  EXPECT_EQ(mime::address("To", "Van phong", "a@b.vn"), "Van phong <a@b.vn>");
  EXPECT_EQ(mime::address("To", "UBND xa \"An Hiep\", Chau Thanh", "a@b.vn"),
            "\"UBND xa \\\"An Hiep\\\", Chau Thanh\" <a@b.vn>");
  EXPECT_EQ(mime::address("From", "Huyện ủy", "a@b.vn"), "=?UTF-8?B?SHV54buHbiDhu6d5?= <a@b.vn>");
}

TEST(Mime, DateIsRfc5322) {
  EXPECT_EQ(mime::rfc5322_date(kFixedNow), "Mon, 12 Jul 2021 01:00:00 +0000");
  EXPECT_EQ(mime::rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
}

TEST(Mime, TextPartsHaveCrlfLineEndings) {
  EXPECT_EQ(mime::crlf("a\nb\r\nc\rd\n"), "a\r\nb\r\nc\r\nd\r\n");
}

// ---- the message a recipient gets ----------------------------------------------------------

TEST(SmtpMessage, MatchesTheGoldenFile) {
  auto g = gateway("gateway.yaml");
  ASSERT_NE(g, nullptr);
  const std::string msg = dynamic_cast<SmtpGateway&>(*g).message(to_chairman(seed()));
  if (std::getenv("HERALD_UPDATE_GOLDEN")) test::write_file(testdata("seed-158.eml"), msg);
  EXPECT_EQ(msg, test::read_file(testdata("seed-158.eml")));
}

TEST(SmtpMessage, IsWellFormedMime) {
  auto g = gateway("gateway.yaml");
  ASSERT_NE(g, nullptr);
  const Directive& d = seed();
  const std::string msg = dynamic_cast<SmtpGateway&>(*g).message(to_chairman(d));
  // CRLF only, and no line longer than 78 characters.
  for (size_t i = 0; i < msg.size(); ++i)
    if (msg[i] == '\n') {
      ASSERT_TRUE(i > 0 && msg[i - 1] == '\r') << "bare LF at " << i;
    }
  for (const auto& l : lines_of(msg)) EXPECT_LE(l.size(), 78u) << l;

  EXPECT_EQ(decode_words(header(msg, "Subject")), "[158-CV/HU] " + d.subject);
  // The message reference (SHA-256 of the token, as Python's hashlib computes it), never
  // the token: nothing a recipient sees may authenticate a receipt.
  EXPECT_EQ(header(msg, "Message-ID"), "<cefdafb454759502c41aa5cc4e94c201@herald.chauthanh.example>");
  EXPECT_EQ(header(msg, "X-Herald-Delivery"), "cefdafb454759502c41aa5cc4e94c201");
  EXPECT_EQ(msg.find(kToken), std::string::npos) << "the token appears nowhere in the message";
  EXPECT_EQ(header(msg, "Date"), "Mon, 12 Jul 2021 01:00:00 +0000");
  EXPECT_EQ(header(msg, "MIME-Version"), "1.0");
  EXPECT_EQ(header(msg, "Reply-To"), "vanthu@huyenuy.chauthanh.example");
  EXPECT_EQ(decode_words(header(msg, "From")), "Văn phòng Huyện ủy Châu Thành");
  EXPECT_NE(header(msg, "From").find("<vanphong@huyenuy.chauthanh.example>"), std::string::npos);
  EXPECT_EQ(decode_words(header(msg, "To")), "Nguyễn Văn Bình (Chủ tịch UBND huyện)");
  EXPECT_NE(header(msg, "Content-Type").find("multipart/alternative"), std::string::npos);

  const std::string text = part(msg, "text/plain; charset=UTF-8");
  EXPECT_TRUE(valid_utf8(text));
  EXPECT_NE(text.find(mime::crlf(d.body)), std::string::npos) << "the body, whole";
  EXPECT_NE(text.find("Trích yếu: " + d.subject), std::string::npos);
  EXPECT_NE(text.find("Huyện ủy Châu Thành"), std::string::npos);
  EXPECT_NE(text.find("Ngày ban hành: 12/07/2021"), std::string::npos);
  EXPECT_NE(text.find("Kính gửi: Nguyễn Văn Bình"), std::string::npos);
  const std::string html = part(msg, "text/html; charset=UTF-8");
  EXPECT_NE(html.find("Phạm Anh Minh"), std::string::npos);
  EXPECT_NE(html.find("<p>"), std::string::npos);
}

TEST(SmtpMessage, MessageIdIsTheSameOnEveryAttempt) {
  auto g = gateway("local.yaml");
  ASSERT_NE(g, nullptr);
  auto& s = dynamic_cast<SmtpGateway&>(*g);
  const OutboundMessage m = to_chairman(seed());
  EXPECT_EQ(header(s.message(m), "Message-ID"), header(s.message(m), "Message-ID"));
  // Without message_id_domain, the From address's domain.
  EXPECT_EQ(header(s.message(m), "Message-ID"), "<" + message_ref(kToken) + "@huyenuy.chauthanh.example>");
}

TEST(SmtpMessage, AttachmentsAreLinked) {
  Directive d = seed();
  d.attachments = {{"158-CV-HU.pdf", "https://vanban.chauthanh.example/158-CV-HU.pdf", ""},
                   {"Phụ lục <1>.docx", "https://vanban.chauthanh.example/pl?a=1&b=2", ""}};
  EmailContent c = render_email(d, "");
  EXPECT_NE(c.text.find("Tệp đính kèm:\n- 158-CV-HU.pdf: https://vanban.chauthanh.example/158-CV-HU.pdf\n"
                        "- Phụ lục <1>.docx: https://vanban.chauthanh.example/pl?a=1&b=2\n"),
            std::string::npos)
      << c.text;
  EXPECT_NE(c.html.find("<a href=\"https://vanban.chauthanh.example/pl?a=1&amp;b=2\">Phụ lục &lt;1&gt;.docx</a>"),
            std::string::npos);
  EXPECT_EQ(c.text.find("Kính gửi"), std::string::npos) << "no greeting without a name";
}

TEST(SmtpMessage, ConfidentialDirectiveSendsOnlyANotice) {
  for (auto level : {Confidentiality::mat, Confidentiality::toi_mat, Confidentiality::tuyet_mat}) {
    Directive d = seed();
    d.confidentiality = level;
    d.attachments = {{"158-CV-HU.pdf", "https://vanban.chauthanh.example/158-CV-HU.pdf", ""}};
    auto g = gateway("gateway.yaml");
    ASSERT_NE(g, nullptr);
    const std::string msg = dynamic_cast<SmtpGateway&>(*g).message(to_chairman(d));
    const std::string subject = decode_words(header(msg, "Subject"));
    const std::string text = part(msg, "text/plain; charset=UTF-8");
    const std::string html = part(msg, "text/html; charset=UTF-8");
    EXPECT_EQ(subject.rfind("[158-CV/HU] Văn bản ", 0), 0u) << subject;
    for (const std::string& where : {subject, text, html}) {
      EXPECT_EQ(where.find("phòng, chống dịch"), std::string::npos) << where;
      EXPECT_EQ(where.find("Công văn số 169-CV/TU"), std::string::npos) << where;
      EXPECT_EQ(where.find("158-CV-HU.pdf"), std::string::npos) << where;
    }
    EXPECT_NE(text.find("có văn bản số 158-CV/HU"), std::string::npos) << text;
    EXPECT_NE(text.find("Đề nghị nhận bản chính tại văn phòng."), std::string::npos) << text;
  }
}

// ---- request out ----------------------------------------------------------------------------

TEST(Smtp, BuildsAnSmtpUploadWithTheEnvelope) {
  auto g = gateway("gateway.yaml");
  ASSERT_NE(g, nullptr);
  const OutboundMessage m = to_chairman(seed());
  const net::HttpRequest req = g->build(m);
  EXPECT_EQ(req.method, "SMTP");
  EXPECT_EQ(req.url, "smtp://mail.chauthanh.example:587");
  EXPECT_EQ(req.mail_from, "<vanphong@huyenuy.chauthanh.example>");
  EXPECT_EQ(req.mail_rcpt, (std::vector<std::string>{"<chutich@ubnd.chauthanh.example>"}));
  EXPECT_EQ(req.timeout_ms, 30000);
  EXPECT_TRUE(req.headers.empty());
  EXPECT_TRUE(static_cast<bool>(req.customize)) << "TLS and AUTH options";
  EXPECT_EQ(req.body, dynamic_cast<SmtpGateway&>(*g).message(m));
  EXPECT_EQ(req.body.find(kPassword), std::string::npos);
}

TEST(Smtp, RefusesWhatIsNotAnEmailAddress) {
  auto g = gateway("local.yaml");
  ASSERT_NE(g, nullptr);
  OutboundMessage m = to_chairman(seed());
  EXPECT_FALSE(g->refuse(m).has_value());
  for (const char* bad : {"", "+84912000101", "a b@c.vn", "<a@b.vn>", "a@", "a@b.vn, c@d.vn"}) {
    m.address = bad;
    auto r = g->refuse(m);
    ASSERT_TRUE(r.has_value()) << bad;
    EXPECT_EQ(r->kind, SendErrorKind::rejected_number);
    EXPECT_EQ(r->code, "bad_address");
  }
}

TEST(Smtp, TakesNoCallbacks) {
  auto g = gateway("local.yaml");
  ASSERT_NE(g, nullptr);
  InboundCallback cb;
  cb.method = "POST";
  cb.body = "{\"status\": \"delivered\"}";
  ReceiptParse p = g->parse_receipt(cb);
  EXPECT_FALSE(p.receipt.has_value());
  EXPECT_EQ(p.error, "SMTP gateways take no callbacks");
}

// ---- answer -> outcome ----------------------------------------------------------------------

// ---- configuration --------------------------------------------------------------------------

TEST(Smtp, ReadsTheGatewayFromYaml) {
  auto g = gateway("gateway.yaml");
  ASSERT_NE(g, nullptr);
  auto* s = dynamic_cast<SmtpGateway*>(g.get());
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->channel(), Channel::email);
  EXPECT_EQ(s->url, "smtp://mail.chauthanh.example:587");
  EXPECT_EQ(s->starttls, SmtpGateway::StartTls::required);
  EXPECT_EQ(s->username, "herald@huyenuy.chauthanh.example");
  ASSERT_TRUE(s->password.has_value());
  EXPECT_EQ(s->password->reveal(), kPassword);
  EXPECT_EQ(s->password->source(), "env:HERALD_TEST_SMTP_PASSWORD");
  EXPECT_EQ(s->from, "vanphong@huyenuy.chauthanh.example");
  EXPECT_EQ(s->from_name, "Văn phòng Huyện ủy Châu Thành");
  EXPECT_EQ(s->reply_to, "vanthu@huyenuy.chauthanh.example");
  EXPECT_EQ(s->message_id_domain, "herald.chauthanh.example");
  EXPECT_EQ(s->limits().rate_per_s, 20);
  EXPECT_EQ(s->limits().concurrency, 4);
  EXPECT_EQ(s->limits().timeout_ms, 30000);

  auto l = gateway("local.yaml");
  ASSERT_NE(l, nullptr);
  auto* local = dynamic_cast<SmtpGateway*>(l.get());
  EXPECT_EQ(local->starttls, SmtpGateway::StartTls::off);
  EXPECT_FALSE(local->password.has_value());
  EXPECT_EQ(local->message_id_domain, "huyenuy.chauthanh.example");
}

}  // namespace
}  // namespace herald
