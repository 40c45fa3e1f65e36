// /ack/<token>: the signed, expiring link an email or Zalo recipient opens to acknowledge.
// GET shows what it acknowledges and a button; the POST of that button records it (mail
// scanners that open every link must not acknowledge for the recipient). A tampered or
// foreign token is 404, an expired one or one of a cancelled directive 410; none changes
// anything.
#include "acks/ack_link.hpp"
#include "core/log.hpp"
#include "core/time.hpp"
#include "feeds/cap.hpp"
#include "http/api.hpp"

namespace herald::http {

namespace {

Response page(const Request& req, bhttp::status status, const std::string& title, const std::string& body) {
  Response res{status, req.version()};
  res.set(bhttp::field::server, "heraldd");
  res.set(bhttp::field::content_type, "text/html; charset=utf-8");
  res.set(bhttp::field::cache_control, "no-store");
  res.set("X-Frame-Options", "DENY");
  res.set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'");
  res.keep_alive(req.keep_alive());
  res.body() = "<!DOCTYPE html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
               "content=\"width=device-width\"><title>" + feeds::xml_escape(title) + "</title></head>"
               "<body style=\"font-family:sans-serif;max-width:36em;margin:2em auto\">\n<h1>" +
               feeds::xml_escape(title) + "</h1>\n" + body + "\n</body></html>\n";
  res.prepare_payload();
  return res;
}

}  // namespace

Response handle_ack(const Request& req, ApiContext& ctx, const std::string& token) {
  if (req.method() != bhttp::verb::get && req.method() != bhttp::verb::post && req.method() != bhttp::verb::head)
    return json_reply(req, bhttp::status::method_not_allowed, {{"error", "method not allowed"}});
  if (ctx.ack_secret.empty()) return page(req, bhttp::status::not_found, "Liên kết không hợp lệ", "");
  const acks::AckVerify v = acks::verify_ack_token(token, ctx.ack_secret, now_ms() / 1000);
  if (v.error == acks::AckTokenError::expired)
    return page(req, bhttp::status::gone, "Liên kết đã hết hạn",
                "<p>Đề nghị đồng chí xác nhận bằng cách trả lời tin nhắn, hoặc liên hệ văn phòng.</p>");
  std::optional<DeliveryRow> row;
  if (v.error == acks::AckTokenError::none) row = ctx.store.delivery(v.claim.delivery_id);
  if (!row || row->recipient_kind != "person")
    return page(req, bhttp::status::not_found, "Liên kết không hợp lệ", "<p>Liên kết này không đúng.</p>");
  auto summary = ctx.store.directive_summary(row->directive_id);
  // A cancelled directive asks nothing of anyone any more: its links end with it.
  if (summary && summary->cancelled_at_ms)
    return page(req, bhttp::status::gone, "Văn bản đã bị hủy",
                "<p>Văn bản số " + feeds::xml_escape(summary->number) +
                    " đã được cơ quan ban hành hủy; không cần xác nhận.</p>");
  const std::string what = summary ? "văn bản số " + summary->number + " của " + summary->issuer_name
                                   : "văn bản " + row->directive_id;
  if (req.method() != bhttp::verb::post)
    return page(req, bhttp::status::ok, "Xác nhận đã nhận văn bản",
                "<p>Đồng chí " + feeds::xml_escape(row->recipient_name) + " xác nhận đã nhận " +
                    feeds::xml_escape(what) + ".</p>\n<form method=\"post\"><button type=\"submit\" "
                    "style=\"font-size:1.2em;padding:.5em 1em\">Xác nhận</button></form>");
  AckOutcome a = ctx.store.acknowledge(row->directive_id, row->recipient_id, row->channel, "ack link",
                                       "link:" + std::string(to_string(row->channel)), now_ms());
  if (!a.found) return page(req, bhttp::status::not_found, "Liên kết không hợp lệ", "");
  if (!a.already) log::info(row->recipient_id, " acknowledged ", row->directive_id, " by ack link");
  return page(req, bhttp::status::ok, "Đã ghi nhận",
              "<p>Đã ghi nhận: đồng chí " + feeds::xml_escape(row->recipient_name) + " đã nhận " +
                  feeds::xml_escape(what) + (a.already ? " (đã xác nhận trước đó)" : "") + ".</p>");
}

}  // namespace herald::http
