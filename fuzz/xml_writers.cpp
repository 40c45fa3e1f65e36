// The XML heraldd writes for anyone to read: the CAP 1.2 alert and cancel of a directive,
// and the Atom index (feeds/cap.cpp). Directive fields, zone names, a cancel reason and
// audio resources come from outside (an office's directive, the directory, an operator),
// so whatever they hold the output must be well-formed XML (libxml2 parses it, no network,
// no entities) and say what it was given: a headline of valid text comes back unchanged.
//
// Input: fields separated by NUL bytes: id, number, issuer name, subject, headline,
// description, cancel reason, zone name, geocode, resource description, entry title.
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "feeds/cap.hpp"
#include "text/vietnamese.hpp"

using namespace herald;

namespace {

std::vector<std::string> fields(std::string_view in, size_t n) {
  std::vector<std::string> out;
  while (out.size() + 1 < n) {
    size_t nul = in.find('\0');
    if (nul == std::string_view::npos) break;
    out.emplace_back(in.substr(0, nul));
    in.remove_prefix(nul + 1);
  }
  out.emplace_back(in);
  out.resize(n);
  return out;
}

xmlDocPtr parse(const std::string& xml) {
  xmlDocPtr doc = xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "fuzz.xml", "UTF-8",
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOENT);
  if (!doc) {
    fprintf(stderr, "not well-formed XML:\n%s\n", xml.c_str());
    std::abort();
  }
  return doc;
}

// The text of the first element named `name`, anywhere.
std::string text_of(xmlNodePtr n, const char* name) {
  for (; n; n = n->next) {
    if (n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, reinterpret_cast<const xmlChar*>(name)) == 0) {
      xmlChar* t = xmlNodeGetContent(n);
      std::string out = t ? reinterpret_cast<const char*>(t) : "";
      xmlFree(t);
      return out;
    }
    std::string inner = text_of(n->children, name);
    if (!inner.empty()) return inner;
  }
  return {};
}

// Text XML 1.0 can carry as it is: valid UTF-8 without NUL, no control character but tab
// and LF (a CR comes back as LF), no U+FFFE or U+FFFF.
bool plain(const std::string& s) {
  if (utf8_clean(s) != s) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 && c != '\t' && c != '\n') return false;
    if (c == 0xEF && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xBF &&
        (static_cast<unsigned char>(s[i + 2]) == 0xBE || static_cast<unsigned char>(s[i + 2]) == 0xBF))
      return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  xmlInitParser();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto f = fields(std::string_view(reinterpret_cast<const char*>(data), size), 11);
  Directive d;
  d.id = f[0].empty() ? "x/1" : f[0];
  d.number = f[1];
  d.issuer_code = "FUZZ";
  d.issuer_name = f[2];
  d.subject = f[3];
  d.issued_at = "2026-12-07T08:00:00+07:00";
  feeds::CapAlert a;
  a.directive = &d;
  a.received_at_ms = 1'796'000'000'000;
  a.cancelled_at_ms = 1'796'000'600'000;
  a.cancel_reason = f[6];
  a.headline = f[4];
  a.description = f[5];
  a.areas.push_back({f[7], f[8]});
  a.resources.push_back({f[9], "audio/mpeg", 1234, "https://herald.example/feeds/audio/x.mp3", "00"});
  CapFeedConfig cfg;
  const std::pair<std::string, std::string> docs[] = {{feeds::render_alert(a, cfg), a.headline},
                                                      {feeds::render_cancel(a, cfg), "Hủy thông báo: " + a.headline}};
  for (const auto& [xml, headline] : docs) {
    xmlDocPtr doc = parse(xml);
    const std::string got = text_of(xmlDocGetRootElement(doc), "headline");
    if (plain(a.headline) && !a.headline.empty() && got != headline) {
      fprintf(stderr, "headline changed: [%s] -> [%s]\n", headline.c_str(), got.c_str());
      std::abort();
    }
    xmlFreeDoc(doc);
  }
  feeds::AtomEntry e{f[0], f[10], f[5], "2026-12-07T08:00:00+07:00", "https://herald.example/feeds/cap/" + f[0] + ".xml",
                     "Alert"};
  const std::string atom = feeds::render_atom({e, e}, "https://herald.example/feeds/cap.atom", cfg, a.received_at_ms);
  xmlDocPtr doc = parse(atom);
  if (plain(f[10]) && !f[10].empty()) {
    // The feed's title comes first; the entry's title is the second <title>.
    xmlNodePtr root = xmlDocGetRootElement(doc);
    std::string entry_title;
    for (xmlNodePtr n = root->children; n; n = n->next)
      if (n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, BAD_CAST "entry") == 0) {
        entry_title = text_of(n->children, "title");
        break;
      }
    if (entry_title != f[10]) {
      fprintf(stderr, "entry title changed: [%s] -> [%s]\n", f[10].c_str(), entry_title.c_str());
      std::abort();
    }
  }
  xmlFreeDoc(doc);
  return 0;
}
