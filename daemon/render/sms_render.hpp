#pragma once
// The SMS a recipient gets for a directive: a per-channel template, optional unaccented
// text, and a segment budget that shortens the message rather than exceed it.
#include <string>

#include "directive/directive.hpp"
#include "render/sms_text.hpp"

namespace herald {

struct SmsTemplate {
  /// Placeholders: {number} {issuer} {subject} {text} {link}. {text} is the body, or the
  /// summary, or nothing, whichever first fits the budget.
  std::string format = "{issuer} - CV {number}: {subject}. {text} {link}";
  /// Sent instead for Mật and above: never the content, only that a document awaits.
  std::string confidential_format =
      "{issuer} có văn bản số {number} (mật) gửi đồng chí. Đề nghị nhận bản chính tại văn phòng.";
  bool unaccented = false;  // tiếng Việt không dấu: fits GSM-7, 160 chars per SMS
  size_t max_segments = 3;
};

struct RenderedSms {
  std::string text;
  SmsSize size;
  /// Which fallback was used: "body", "summary", "subject", "short_subject", "notice".
  std::string variant;
};

/// Renders the SMS for `d`; `link` may be empty.
RenderedSms render_sms(const Directive& d, const SmsTemplate& t, const std::string& link);

/// Fills {name} placeholders; unknown ones are left as they are. Runs of spaces that an
/// empty value leaves behind collapse to one.
std::string fill_template(const std::string& format,
                          const std::vector<std::pair<std::string, std::string>>& values);

}  // namespace herald
