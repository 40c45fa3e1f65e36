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
  std::atomic<bool> broker_connected{false};
};

}  // namespace herald
