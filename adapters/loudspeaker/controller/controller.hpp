#pragma once
// A commune loudspeaker controller (hệ thống truyền thanh cơ sở) reached over a generic
// HTTP JSON API: one job per zone with the zone, a priority mapped from the directive's
// urgency (normal / priority / emergency by default), the text to read, the audio URL,
// a repeat count and a start time, and a callback for the playback report. No vendor API
// is public, so everything vendor-specific is configuration (adapters/http_template), as
// for the http_json SMS gateway: URL, headers, secrets, the body template, response and
// report mapping.
#include <array>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adapters/gateway.hpp"
#include "adapters/http_template/http_template.hpp"
#include "directive/directive.hpp"

namespace herald {

class LoudspeakerControllerGateway final : public Gateway {
 public:
  HttpTemplate api;
  /// The controller's priority term for each urgency (normal, khan, thuong_khan, hoa_toc).
  std::array<std::string, 4> priorities{"normal", "priority", "priority", "emergency"};
  /// Urgencies that play at once; the others wait for the next broadcast slot, if any.
  std::array<bool, 4> immediate{false, false, true, true};
  /// Daily broadcast slots as minutes after local midnight ("06:00" -> 360), sorted.
  std::vector<int> slots;
  int utc_offset_minutes = 7 * 60;
  int repeat = 1;  // when the directive does not say
  /// Herald zone id -> the controller's own zone code (default: the zone id).
  std::map<std::string, std::string> zone_codes;

  Channel channel() const override { return Channel::loudspeaker; }
  std::optional<SendError> refuse(const OutboundMessage& m) const override;
  /// Fills {{token}}, {{receipt_url}}, {{delivery_id}}, {{text}}, {{zone}}, {{zone_id}}, {{zone_name}},
  /// {{priority}}, {{title}}, {{audio_url}}, {{audio_mime}}, {{audio_bytes}},
  /// {{audio_sha256}}, {{audio_duration_s}}, {{voice}}, {{repeat}}, {{start_at}},
  /// {{schedule}} (immediate | slot), {{directive_id}}, {{number}}, {{urgency}}.
  net::HttpRequest build(const OutboundMessage& m) const override;
  SendResult parse(const net::HttpResponse& r) const override { return api.parse(r); }
  ReceiptParse parse_receipt(const InboundCallback& cb) const override { return api.parse_receipt(cb); }
  std::optional<InboundReply> parse_mo(const InboundCallback& cb) const override { return api.parse_reply(cb); }

  /// When a job made at `now_ms` for `urgency` should start: now, or the next slot.
  int64_t start_at_ms(Urgency urgency, int64_t now_ms) const;

  static std::unique_ptr<Gateway> from_yaml(const std::string& name, MapReader& r);

 private:
  /// Its own placeholders' values for `m`, a job made at `now_ms`.
  TemplateValues values(const OutboundMessage& m, int64_t now_ms) const;
};

}  // namespace herald
