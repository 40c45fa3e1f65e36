#pragma once
// Unguessable tokens (receipt URLs, ack links) from the kernel's CSPRNG.
#include <string>

namespace herald {

/// `bytes` random bytes as lowercase hex (2 * bytes characters).
std::string random_token(size_t bytes = 16);

}  // namespace herald
