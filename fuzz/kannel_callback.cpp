// Kannel's callbacks: delivery reports on the dlr-url (?status=%d&answer=%A), replies from
// smsbox's sms-service (?from=%p&text=%a), and sendsms answers. Input: callback.hpp.
#include "callback.hpp"

using namespace herald;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The example config's gateway (config/herald.example.yaml), with a literal password.
  static const std::unique_ptr<Gateway> kannel = fuzz::gateway("kannel-local", R"(type: kannel
sendsms_url: http://127.0.0.1:13013/cgi-bin/sendsms
username: herald
password: fuzz-password
from: HUYENUY
dlr_mask: 31
)");
  if (auto cb = fuzz::callback(data, size)) fuzz::parse_all(*kannel, *cb);
  return 0;
}
