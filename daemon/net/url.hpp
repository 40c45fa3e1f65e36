#pragma once
// Percent-encoding for query values and path segments (RFC 3986 unreserved kept).
#include <string>
#include <string_view>

namespace herald::net {

std::string percent_encode(std::string_view s);
/// Decodes %XX and, when `plus_is_space`, '+' (form encoding). Malformed escapes are kept.
std::string percent_decode(std::string_view s, bool plus_is_space = true);

}  // namespace herald::net
