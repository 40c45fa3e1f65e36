#pragma once
// RFC 3339 timestamps: what directives carry and what the store and API print.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace herald {

/// Milliseconds since the Unix epoch for an RFC 3339 date-time with an explicit offset
/// ("2021-07-12T08:00:00+07:00", "...Z", optional fraction); nullopt when malformed or
/// out of range (month 13, 30 February, hour 24...).
std::optional<int64_t> parse_rfc3339(std::string_view s);

/// "2021-07-12T01:00:00.000Z" for the given epoch milliseconds.
std::string format_rfc3339_utc(int64_t epoch_ms);

/// "2021-07-12T08:00:00+07:00": local time at a fixed UTC offset, whole seconds (the form
/// CAP 1.2 requires).
std::string format_rfc3339_offset(int64_t epoch_ms, int offset_minutes);

/// "+07:00" -> 420, "-03:30" -> -210, "Z" -> 0.
std::optional<int> parse_utc_offset(std::string_view s);

int64_t now_ms();

/// Durations in config: "250ms", "30s", "5m", "2h", or a bare number of seconds; at most
/// kMaxDurationMs (100 years).
std::optional<int64_t> parse_duration_ms(std::string_view s);
inline constexpr int64_t kMaxDurationMs = 100LL * 36525 * 86'400'000 / 100;
/// True when `s` is written like a duration but is longer than kMaxDurationMs.
bool duration_too_long(std::string_view s);

}  // namespace herald
