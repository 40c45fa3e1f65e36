#include "render/followup.hpp"

namespace herald {

Directive followup_view(const Directive& d, Purpose purpose, const std::string& note) {
  if (purpose == Purpose::reminder) {
    Directive r = d;
    r.subject = "[Nhắc lại, chưa xác nhận] " + d.subject;
    return r;
  }
  if (purpose != Purpose::escalation) return d;
  Directive e;
  e.id = d.id;
  e.number = d.number;
  e.issuer_code = d.issuer_code;
  e.issuer_name = d.issuer_name;
  e.issued_at = d.issued_at;
  e.issued_at_ms = d.issued_at_ms;
  e.urgency = d.urgency;
  e.subject = "Chưa xác nhận văn bản " + d.number + ": " + note;
  e.body = "Đến hạn " + d.ack_deadline.value_or("") + ", " + note + " chưa xác nhận đã nhận văn bản số " +
           d.number + " của " + d.issuer_name + ". Đề nghị đồng chí đôn đốc.";
  e.summary = note + " chưa xác nhận văn bản số " + d.number + ". Đề nghị đồng chí đôn đốc.";
  // No ack code: the superior is told, not asked to acknowledge.
  return e;
}

}  // namespace herald
