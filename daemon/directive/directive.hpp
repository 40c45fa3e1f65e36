#pragma once
// The herald.directive/v1 message: what an issuing office publishes.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/channel.hpp"

namespace herald {

enum class Urgency { normal, khan, thuong_khan, hoa_toc };  // thường, Khẩn, Thượng khẩn, Hỏa tốc
enum class Confidentiality { normal, mat, toi_mat, tuyet_mat };  // Mật, Tối mật, Tuyệt mật

std::string_view to_string(Urgency u);
std::string_view to_string(Confidentiality c);
/// Higher is sent first: normal 0 ... hoa_toc 3.
inline int rank(Urgency u) { return static_cast<int>(u); }

struct RecipientRef {
  enum class Kind { group, person } kind;
  std::string id;
};

struct Attachment {
  std::string name;
  std::string url;
  std::string sha256;
};

struct LoudspeakerRequest {
  std::vector<std::string> zones;
  std::string text;
  int repeat = 1;
};

struct Directive {
  std::string id;
  std::string number;
  std::string issuer_code;
  std::string issuer_name;
  std::string issued_at;
  int64_t issued_at_ms = 0;
  std::string subject;
  std::string summary;
  std::string body;
  Urgency urgency = Urgency::normal;
  Confidentiality confidentiality = Confidentiality::normal;
  std::vector<RecipientRef> recipients;
  std::vector<Channel> channels;  // empty: each recipient's preferences
  bool ack_required = false;
  std::optional<std::string> ack_deadline;
  std::optional<int64_t> ack_deadline_ms;
  std::optional<LoudspeakerRequest> loudspeaker;
  std::vector<Attachment> attachments;
  /// Not part of the message: the short code replies name it by ("158"), given by the
  /// store when the directive needs acknowledgement.
  std::string ack_code;

  bool confidential() const { return confidentiality != Confidentiality::normal; }
};

struct DirectiveError {
  std::string path;     // JSON path: "recipients[2].group", "" for the document
  std::string message;
};

struct DirectiveParse {
  std::optional<Directive> directive;
  std::vector<DirectiveError> errors;
  /// The id, when the document got far enough to have one (for logs and the DLQ).
  std::string id;
  /// All errors in one line: "issued_at: not an RFC 3339 date-time; recipients: ...".
  std::string summary() const;
};

inline constexpr std::string_view kDirectiveSchema = "herald.directive/v1";

/// Parses and validates a directive body. Every violation is reported, not just the first.
DirectiveParse parse_directive(std::string_view body, size_t max_bytes = 1 << 20);

}  // namespace herald
