#pragma once
// Reminders before an acknowledgement deadline and escalation after it, per urgency
// (acks.follow_up). Each follow-up of a directive fires once, across restarts and
// instances (the store's ack_timers); nothing goes to, or about, someone who acknowledged.
#include <cstdint>

#include "config/config.hpp"
#include "directory/directory.hpp"
#include "store/store.hpp"

namespace herald::acks {

/// Plans and adds what is due at `now_ms`; returns the deliveries added.
size_t run_followups(Store& store, const Directory& dir, const AcksConfig& cfg, int64_t now_ms);

}  // namespace herald::acks
