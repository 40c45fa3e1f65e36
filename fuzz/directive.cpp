// A herald.directive/v1 message as it arrives from RabbitMQ or POST /api/v1/directives:
// parse_directive validates it and reports every violation. Input: the message body.
#include <cstdlib>
#include <string_view>

#include "directive/directive.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  herald::DirectiveParse p = herald::parse_directive(body);
  // Either a directive or the reasons there is none, never both, never neither.
  if (p.directive.has_value() == !p.errors.empty()) std::abort();
  (void)p.summary();
  return 0;
}
