// The HTTP email API's webhooks: delivered, bounced, dropped and deferred events posted to
// /hooks/email/<gateway>/<token>, and its send answers. Input: callback.hpp.
#include "callback.hpp"

using namespace herald;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // adapters/email/http_api/testdata/gateway.yaml, with a literal secret.
  static const std::unique_ptr<Gateway> mail = fuzz::gateway("mail-api", R"(type: http_email
url: https://api.mail.example.vn/v1/send
headers:
  Authorization: "Bearer {{secret.api_key}}"
secrets:
  api_key: fuzz-api-key
from: vanphong@huyenuy.chauthanh.example
from_name: Văn phòng Huyện ủy Châu Thành
message_id_domain: herald.chauthanh.example
body: |
  {"from": {"email": "{{from}}", "name": "{{from_name}}"}, "to": [{"email": "{{to}}", "name": "{{to_name}}"}],
   "subject": "{{subject}}", "text": "{{text}}", "html": "{{html}}", "headers": {"Message-ID": "{{message_id}}"},
   "webhook_url": "{{receipt_url}}", "custom_id": "{{token}}", "delivery": {{delivery_id}}}
response:
  success_pointer: /status
  success_value: queued
  id_pointer: /id
  error_pointer: /error
receipt:
  status: /event
  id: /id
  reason: /reason
  map: {delivered: delivered, bounced: failed, dropped: failed, deferred: sent}
)");
  if (auto cb = fuzz::callback(data, size)) fuzz::parse_all(*mail, *cb);
  return 0;
}
