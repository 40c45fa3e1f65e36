#pragma once
// What an email about a directive says, for every email gateway (SMTP or an HTTP API):
// "[number] subject", then issuer, number, date, subject, body and attachment links; for
// Mật and above only a notice that a document awaits: no content of a classified
// directive leaves over email (docs/directive-schema.md, confidentiality).
#include <string>

#include "directive/directive.hpp"

namespace herald {

struct EmailContent {
  std::string subject;
  std::string text;  // UTF-8, "\n" line endings (mime::build makes them CRLF)
  std::string html;
};

/// The email for `d`, addressed to `recipient_name` (may be empty).
/// The email without the acknowledgement footer.
EmailContent render_email_content(const Directive& d, const std::string& recipient_name);
/// `ack_url`: the recipient's signed acknowledgement link, shown with the directive's ack
/// code when it needs acknowledgement.
EmailContent render_email(const Directive& d, const std::string& recipient_name, const std::string& ack_url = {});

/// What a delivery's email shows of it (Message-ID, MIME boundary, X-Herald-Delivery): 32
/// hex digits of SHA-256 over the delivery's token, the same on every attempt. Every
/// recipient and mail relay sees it, so it must not be the token, which authenticates
/// receipts at /hooks/email/<gateway>/<token>: nobody can go back from it to the token.
std::string message_ref(const std::string& token);

/// "<message_ref(token)@domain>": the Message-ID of a delivery, the same on every attempt,
/// so a resend is recognisable and a bounce or reply can be matched to its delivery.
std::string message_id(const std::string& token, const std::string& domain);

/// A plausible mailbox: one @, something either side, no spaces, quotes or angle brackets.
bool plausible_address(const std::string& a);
bool plausible_domain(const std::string& d);
/// The part after the last @ ("" when there is none).
std::string domain_of(const std::string& address);

class MapReader;
/// Reads the sender keys both email gateways take: from (required), from_name, reply_to,
/// message_id_domain (default: the domain of from), reporting bad addresses.
void read_sender(MapReader& r, std::string& from, std::string& from_name, std::string& reply_to,
                 std::string& message_id_domain);

/// Text with &, <, >, " escaped for HTML.
std::string html_escape(const std::string& s);

}  // namespace herald
