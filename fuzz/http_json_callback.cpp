// The generic HTTP JSON SMS gateway's callbacks: receipts and replies read through JSON
// pointers into a posted body (eSMS style), or from query and form fields, and its send
// answers. Input: callback.hpp.
#include "callback.hpp"

using namespace herald;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // adapters/sms/http_json/testdata/gateway.yaml, with literal secrets and a reply mapping.
  static const std::unique_ptr<Gateway> by_pointer = fuzz::gateway("esms", R"(type: http_json
url: https://sms.example.vn/v2/send?client={{secret.client_id}}
headers:
  Authorization: "Bearer {{secret.api_key}}"
secrets:
  api_key: fuzz-api-key
  client_id: client-7788
body: '{"Phone": "{{to_national}}", "Content": "{{text}}", "RequestId": "{{token}}"}'
response:
  success_pointer: /CodeResult
  success_value: "100"
  id_pointer: /SMSID
  error_pointer: /ErrorMessage
  permanent_pointer: /CodeResult
  permanent_values: ["789", "99"]
receipt:
  status: /Status
  id: /SMSID
  reason: /Error/0/text
  map: {"1": delivered, "2": failed, "3": sent, "5": expired}
mo: {from: /Phone, text: /Message}
)");
  // adapters/sms/http_json/testdata/minimal.yaml: query and form fields.
  static const std::unique_ptr<Gateway> by_field = fuzz::gateway("minimal", R"(type: http_json
url: http://127.0.0.1:9090/send
body: '{"to": "{{to}}", "text": "{{text}}"}'
receipt:
  status: stat
  id: msgid
  reason: err
  map: {DELIVRD: delivered, UNDELIV: failed, ACCEPTD: sent, EXPIRED: expired}
mo: {from: msisdn, text: content}
)");
  if (auto cb = fuzz::callback(data, size)) {
    fuzz::parse_all(*by_pointer, *cb);
    fuzz::parse_all(*by_field, *cb);
  }
  return 0;
}
