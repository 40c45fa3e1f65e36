#pragma once
// The sd_notify protocol, spoken directly (one datagram to $NOTIFY_SOCKET), so heraldd
// needs no libsystemd.
#include <chrono>
#include <optional>
#include <string_view>

namespace herald::systemd {

/// Sends a state string such as "READY=1" or "WATCHDOG=1"; false when not under systemd.
bool notify(std::string_view state);

/// The watchdog interval systemd asks for ($WATCHDOG_USEC for our pid), if any.
std::optional<std::chrono::microseconds> watchdog_interval();

}  // namespace herald::systemd
