#include "feeds/cap.hpp"

#include "text/vietnamese.hpp"

#include "core/time.hpp"

namespace herald::feeds {

namespace {

constexpr const char* kCapNamespace = "urn:oasis:names:tc:emergency:cap:1.2";

// Herald's urgency as CAP's urgency and severity. Every directive is an official order
// (certainty Observed); Hỏa tốc is the only one that demands action at once.
struct CapGrade {
  const char* urgency;
  const char* severity;
};
CapGrade grade(Urgency u) {
  switch (u) {
    case Urgency::hoa_toc: return {"Immediate", "Severe"};
    case Urgency::thuong_khan: return {"Immediate", "Moderate"};
    case Urgency::khan: return {"Expected", "Moderate"};
    case Urgency::normal: break;
  }
  return {"Expected", "Minor"};
}

class Xml {
 public:
  void open(const char* tag) { out_ += "<" + std::string(tag) + ">"; }
  void close(const char* tag) { out_ += "</" + std::string(tag) + ">\n"; }
  void element(const char* tag, std::string_view text) {
    out_ += "<" + std::string(tag) + ">" + xml_escape(text) + "</" + tag + ">\n";
  }
  void raw(std::string_view s) { out_ += s; }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

void info(Xml& x, const CapAlert& a, const CapFeedConfig& cfg, bool cancel) {
  const Directive& d = *a.directive;
  const CapGrade g = grade(d.urgency);
  x.open("info");
  x.raw("\n");
  x.element("language", "vi-VN");
  x.element("category", cfg.category);
  x.element("event", "Văn bản chỉ đạo " + d.number);
  x.element("responseType", cancel ? "AllClear" : "Monitor");
  x.element("urgency", cancel ? "Past" : g.urgency);
  x.element("severity", cancel ? "Minor" : g.severity);
  x.element("certainty", "Observed");
  x.element("senderName", d.issuer_name);
  x.element("headline", cancel ? "Hủy thông báo: " + a.headline : a.headline);
  x.element("description", cancel ? (a.cancel_reason.empty() ? "Thông báo trước đây đã được hủy."
                                                              : "Thông báo trước đây đã được hủy: " + a.cancel_reason)
                                  : a.description);
  if (!cancel) x.element("instruction", "Đề nghị nhân dân theo dõi và thực hiện theo nội dung thông báo.");
  x.open("parameter");
  x.raw("\n");
  x.element("valueName", "herald:number");
  x.element("value", d.number);
  x.close("parameter");
  if (!cancel)
    for (const auto& r : a.resources) {
      x.open("resource");
      x.raw("\n");
      x.element("resourceDesc", r.desc);
      x.element("mimeType", r.mime);
      x.element("size", std::to_string(r.size));
      x.element("uri", r.uri);
      x.element("digest", r.sha1_hex);
      x.close("resource");
    }
  for (const auto& area : a.areas) {
    x.open("area");
    x.raw("\n");
    x.element("areaDesc", area.desc);
    if (!area.geocode.empty()) {
      x.open("geocode");
      x.raw("\n");
      x.element("valueName", "VN-DVHC");  // mã đơn vị hành chính (administrative unit code)
      x.element("value", area.geocode);
      x.close("geocode");
    }
    x.close("area");
  }
  x.close("info");
}

void header(Xml& x, const std::string& identifier, const CapFeedConfig& cfg, const std::string& sent,
            const char* msg_type) {
  x.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  x.raw(std::string("<alert xmlns=\"") + kCapNamespace + "\">\n");
  x.element("identifier", identifier);
  x.element("sender", cfg.sender);
  x.element("sent", sent);
  x.element("status", "Actual");
  x.element("msgType", msg_type);
  x.element("scope", "Public");
}

}  // namespace

std::string xml_escape(std::string_view raw) {
  // Well-formed UTF-8 first (each bad byte U+FFFD): a parser refuses the whole document
  // for one bad byte, and these come from outside.
  const std::string s = utf8_clean(raw);
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 allows no control characters but tab, LF and CR, and not U+FFFE or U+FFFF.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') break;
        if (static_cast<unsigned char>(c) == 0xEF && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xBF &&
            (static_cast<unsigned char>(s[i + 2]) & 0xFE) == 0xBE) {
          i += 2;
          break;
        }
        out += c;
    }
  }
  return out;
}

std::string cap_identifier(const Directive& d) {
  std::string id = d.id;
  for (char& c : id)
    if (c == ' ' || c == ',' || c == '<' || c == '&') c = '_';
  return id;
}

std::string cap_sent(const CapAlert& a, const CapFeedConfig& cfg) {
  const Directive& d = *a.directive;
  return format_rfc3339_offset(d.issued_at_ms ? d.issued_at_ms : a.received_at_ms, cfg.utc_offset_minutes);
}

std::string render_alert(const CapAlert& a, const CapFeedConfig& cfg) {
  Xml x;
  header(x, cap_identifier(*a.directive), cfg, cap_sent(a, cfg), "Alert");
  info(x, a, cfg, false);
  x.raw("</alert>\n");
  return x.take();
}

std::string render_cancel(const CapAlert& a, const CapFeedConfig& cfg) {
  Xml x;
  const std::string original = cap_identifier(*a.directive);
  header(x, original + ":cancel", cfg,
         format_rfc3339_offset(a.cancelled_at_ms.value_or(a.received_at_ms), cfg.utc_offset_minutes), "Cancel");
  if (!a.cancel_reason.empty()) x.element("note", a.cancel_reason);
  x.element("references", cfg.sender + "," + original + "," + cap_sent(a, cfg));
  info(x, a, cfg, true);
  x.raw("</alert>\n");
  return x.take();
}

std::string render_atom(const std::vector<AtomEntry>& entries, const std::string& self,
                        const CapFeedConfig& cfg, int64_t now_ms) {
  Xml x;
  x.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  x.raw("<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
  x.element("id", self);
  x.element("title", "Herald: thông báo cảnh báo CAP của " + cfg.sender);
  x.element("updated", entries.empty() ? format_rfc3339_offset(now_ms, cfg.utc_offset_minutes) : entries.front().updated);
  x.raw("<author><name>" + xml_escape(cfg.sender) + "</name></author>\n");
  x.raw("<link rel=\"self\" type=\"application/atom+xml\" href=\"" + xml_escape(self) + "\"/>\n");
  for (const auto& e : entries) {
    x.open("entry");
    x.raw("\n");
    x.element("id", "urn:herald:cap:" + e.id);
    x.element("title", e.title);
    x.element("updated", e.updated);
    x.raw("<category term=\"" + xml_escape(e.msg_type) + "\"/>\n");
    x.raw("<link rel=\"alternate\" type=\"application/cap+xml\" href=\"" + xml_escape(e.href) + "\"/>\n");
    x.element("summary", e.summary);
    x.close("entry");
  }
  x.raw("</feed>\n");
  return x.take();
}

}  // namespace herald::feeds
