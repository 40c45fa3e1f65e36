#pragma once
// The sd_notify protocol, spoken directly (one datagram to $NOTIFY_SOCKET), so heraldd
// needs no libsystemd.
#include <chrono>
#include <optional>
#include <string_view>

namespace herald::systemd {

/// Sends a state string such as "READY=1" or "WATCHDOG=1"; false when not under systemd.
bool notify(std::string_view state);

/// "RELOADING=1" with the MONOTONIC_USEC= that systemd 253's Type=notify-reload asks for;
/// "READY=1" must follow once the reload is done.
bool notify_reloading();

/// The watchdog interval systemd asks for ($WATCHDOG_USEC for our pid), if any.
std::optional<std::chrono::microseconds> watchdog_interval();

}  // namespace herald::systemd
