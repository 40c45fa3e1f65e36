#pragma once
// Process counters that /metrics exposes (gauges from the store are added at scrape time).
#include <atomic>
#include <cstdint>

namespace herald {

struct Metrics {
  std::atomic<uint64_t> directives_received{0};   // messages taken from the queue
  std::atomic<uint64_t> directives_created{0};    // committed as new
  std::atomic<uint64_t> directives_duplicate{0};  // id already taken in
  std::atomic<uint64_t> directives_rejected_invalid{0};     // schema / JSON errors
  std::atomic<uint64_t> directives_rejected_unresolved{0};  // unknown group, person, zone
  std::atomic<uint64_t> deliveries_planned{0};
  std::atomic<uint64_t> store_errors{0};
  std::atomic<uint64_t> broker_connects{0};
  std::atomic<uint64_t> send_attempts{0};     // requests handed to a gateway
  std::atomic<uint64_t> send_accepted{0};     // gateway took the message
  std::atomic<uint64_t> send_retries{0};      // transient failure, retry scheduled
  std::atomic<uint64_t> send_failed{0};       // permanent failure, attempts or deadline exhausted
  std::atomic<uint64_t> receipts_applied{0};  // receipt moved a delivery
  std::atomic<uint64_t> receipts_unchanged{0};  // valid receipt that moves nothing: no row written
  std::atomic<uint64_t> receipts_ignored{0};  // a repeat of one applied before, or an unknown message id
  std::atomic<uint64_t> receipts_rejected{0}; // unknown token, bad signature, forged or malformed
  std::atomic<uint64_t> credential_refreshes{0};  // gateway tokens renewed
  std::atomic<bool> broker_connected{false};
};

}  // namespace herald
