#include "adapters/email/email_content.hpp"

#include <openssl/evp.h>

#include <cctype>
#include <stdexcept>

#include "settings/yaml_reader.hpp"
#include "directive/ack_code.hpp"

namespace herald {

namespace {

// "2021-07-12T08:00:00+07:00" -> "12/07/2021": the date as the issuer wrote it, in the
// issuer's own offset (Vietnamese documents write dd/mm/yyyy).
std::string issued_date(const std::string& rfc3339) {
  if (rfc3339.size() < 10) return rfc3339;
  return rfc3339.substr(8, 2) + "/" + rfc3339.substr(5, 2) + "/" + rfc3339.substr(0, 4);
}

std::string urgency_label(Urgency u) {
  switch (u) {
    case Urgency::khan: return "Khẩn";
    case Urgency::thuong_khan: return "Thượng khẩn";
    case Urgency::hoa_toc: return "Hỏa tốc";
    case Urgency::normal: break;
  }
  return {};
}

std::string confidentiality_label(Confidentiality c) {
  switch (c) {
    case Confidentiality::mat: return "Mật";
    case Confidentiality::toi_mat: return "Tối mật";
    case Confidentiality::tuyet_mat: return "Tuyệt mật";
    case Confidentiality::normal: break;
  }
  return {};
}

// Paragraphs (blank-line separated) become <p>, single line breaks <br>.
std::string html_paragraphs(const std::string& text) {
  std::string out = "<p>";
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') {
      size_t j = i;
      while (j < text.size() && text[j] == '\n') ++j;
      out += j - i > 1 ? "</p>\n<p>" : "<br>\n";
      i = j - 1;
    } else {
      out += html_escape(std::string(1, text[i]));
    }
  }
  return out + "</p>\n";
}

}  // namespace

std::string domain_of(const std::string& address) {
  size_t at = address.rfind('@');
  return at == std::string::npos ? std::string() : address.substr(at + 1);
}

bool plausible_domain(const std::string& d) {
  if (d.empty() || d.front() == '.' || d.back() == '.') return false;
  for (unsigned char c : d)
    if (!(std::isalnum(c) || c == '.' || c == '-')) return false;
  return true;
}

bool plausible_address(const std::string& a) {
  size_t at = a.rfind('@');
  if (at == std::string::npos || at == 0 || at + 1 >= a.size()) return false;
  for (unsigned char c : a)
    if (c <= 0x20 || c == '<' || c == '>' || c == '"' || c == ',' || c == 0x7f) return false;
  return plausible_domain(a.substr(at + 1));
}

std::string message_ref(const std::string& token) {
  static constexpr std::string_view kLabel = "herald message reference v1:";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
                  EVP_DigestUpdate(ctx, kLabel.data(), kLabel.size()) == 1 &&
                  EVP_DigestUpdate(ctx, token.data(), token.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx, digest, &len) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok || len < 16) throw std::runtime_error("SHA-256 unavailable");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < 16; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

std::string message_id(const std::string& token, const std::string& domain) {
  return "<" + message_ref(token) + "@" + domain + ">";
}

std::string html_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

// How to acknowledge: reply with the code, or open the link.
void add_ack_footer(EmailContent& e, const Directive& d, const std::string& ack_url) {
  if (!d.ack_required || d.ack_code.empty()) return;
  std::string line = ack_footer(d.ack_code, false);
  std::string text = "\n" + line + (ack_url.empty() ? "" : "\nHoặc mở liên kết: " + ack_url) + "\n";
  std::string html = "<p>" + html_escape(line) +
                     (ack_url.empty() ? "" : " <a href=\"" + html_escape(ack_url) + "\">Xác nhận đã nhận văn bản</a>") +
                     "</p>\n";
  e.text += text;
  const std::string end = "</body></html>\n";
  e.html.insert(e.html.size() - end.size(), html);
}

}  // namespace

EmailContent render_email(const Directive& d, const std::string& recipient_name, const std::string& ack_url) {
  EmailContent e = render_email_content(d, recipient_name);
  add_ack_footer(e, d, ack_url);
  return e;
}

EmailContent render_email_content(const Directive& d, const std::string& recipient_name) {
  EmailContent e;
  const std::string greeting = recipient_name.empty() ? "" : "Kính gửi: " + recipient_name;
  const std::string date = issued_date(d.issued_at);
  std::string html = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n";
  if (!greeting.empty()) html += "<p>" + html_escape(greeting) + "</p>\n";

  if (d.confidential()) {
    // Only that a document awaits: no subject, no body, no attachment links.
    const std::string notice = d.issuer_name + " có văn bản số " + d.number + " (" +
                               confidentiality_label(d.confidentiality) + "), ngày " + date +
                               ", gửi đồng chí. Đề nghị nhận bản chính tại văn phòng.";
    e.subject = "[" + d.number + "] Văn bản " + confidentiality_label(d.confidentiality) + " gửi đồng chí";
    e.text = (greeting.empty() ? "" : greeting + "\n\n") + notice + "\n";
    e.html = html + "<p>" + html_escape(notice) + "</p>\n</body></html>\n";
    return e;
  }

  e.subject = "[" + d.number + "] " + d.subject;
  std::string head = "Cơ quan ban hành: " + d.issuer_name + "\nSố: " + d.number + "\nNgày ban hành: " + date +
                     "\nTrích yếu: " + d.subject + "\n";
  if (auto u = urgency_label(d.urgency); !u.empty()) head += "Độ khẩn: " + u + "\n";
  std::string text = (greeting.empty() ? "" : greeting + "\n\n") + head;
  if (!d.body.empty()) text += "\n" + d.body + "\n";
  html += html_paragraphs(head.substr(0, head.size() - 1));
  if (!d.body.empty()) html += html_paragraphs(d.body);
  if (!d.attachments.empty()) {
    text += "\nTệp đính kèm:\n";
    html += "<p>Tệp đính kèm:</p>\n<ul>\n";
    for (const auto& a : d.attachments) {
      text += "- " + a.name + ": " + a.url + "\n";
      html += "<li><a href=\"" + html_escape(a.url) + "\">" + html_escape(a.name) + "</a></li>\n";
    }
    html += "</ul>\n";
  }
  e.text = text;
  e.html = html + "</body></html>\n";
  return e;
}

void read_sender(MapReader& r, std::string& from, std::string& from_name, std::string& reply_to,
                 std::string& message_id_domain) {
  Diagnostics& d = r.diag();
  const std::string w = r.what();
  if (auto v = r.string("from", true)) {
    if (!plausible_address(*v)) d.error(r.mark("from"), w + ".from is not an email address: \"" + *v + "\"");
    from = *v;
  }
  from_name = r.string("from_name").value_or("");
  if (auto v = r.string("reply_to")) {
    if (!plausible_address(*v)) d.error(r.mark("reply_to"), w + ".reply_to is not an email address: \"" + *v + "\"");
    reply_to = *v;
  }
  if (auto v = r.string("message_id_domain")) {
    if (!plausible_domain(*v))
      d.error(r.mark("message_id_domain"), w + ".message_id_domain must be a domain name, found \"" + *v + "\"");
    message_id_domain = *v;
  } else {
    message_id_domain = domain_of(from);
  }
}

}  // namespace herald
