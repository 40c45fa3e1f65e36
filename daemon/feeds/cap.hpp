#pragma once
// CAP 1.2 (OASIS Common Alerting Protocol) documents for directives meant for the
// public, and the Atom index that lists them: what a loudspeaker system, a warning
// aggregator or a broadcaster polls. Pure: everything comes in as values, XML goes out.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "directive/directive.hpp"

namespace herald::feeds {

struct CapArea {
  std::string desc;     // the zone's name
  std::string geocode;  // its administrative unit code; may be empty
};

struct CapResource {
  std::string desc;
  std::string mime;
  int64_t size = 0;
  std::string uri;
  std::string sha1_hex;  // CAP's <digest> is SHA-1
};

/// One directive as the feed sees it.
struct CapAlert {
  const Directive* directive = nullptr;
  int64_t received_at_ms = 0;
  std::optional<int64_t> cancelled_at_ms;
  std::string cancel_reason;
  std::string headline;
  std::string description;  // what is read aloud, before normalisation
  std::vector<CapArea> areas;
  std::vector<CapResource> resources;
};

/// The CAP <identifier> of the directive's alert: its id, with the characters CAP forbids
/// (space, comma, <, &) replaced.
std::string cap_identifier(const Directive& d);
/// The <sent> of the directive's alert: its issued_at at the feed's UTC offset.
std::string cap_sent(const CapAlert& a, const CapFeedConfig& cfg);

/// msgType Alert.
std::string render_alert(const CapAlert& a, const CapFeedConfig& cfg);
/// msgType Cancel, with <references> naming the original alert ("sender,identifier,sent").
std::string render_cancel(const CapAlert& a, const CapFeedConfig& cfg);

struct AtomEntry {
  std::string id;       // the CAP identifier it points to
  std::string title;
  std::string summary;
  std::string updated;  // RFC 3339
  std::string href;     // the CAP document
  std::string msg_type; // Alert | Cancel
};

/// The Atom index; `self` is its own absolute URL.
std::string render_atom(const std::vector<AtomEntry>& entries, const std::string& self,
                        const CapFeedConfig& cfg, int64_t now_ms);

/// Text made safe for XML 1.0 character data and attribute values.
std::string xml_escape(std::string_view s);

}  // namespace herald::feeds
