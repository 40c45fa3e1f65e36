#pragma once
// The durable store: directives, their deliveries, and the append-only event log.
// SQLite implements it today; a PostgreSQL store can implement the same interface.
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/channel.hpp"
#include "directive/directive.hpp"
#include "planner/planner.hpp"

namespace herald {

/// Thrown when the store cannot do its job (disk full, locked, corrupt). The caller must
/// not ack what it was trying to commit.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct StateCount {
  Channel channel;
  DeliveryState state;
  int64_t count = 0;
};

struct DirectiveSummary {
  std::string id;
  std::string number;
  std::string issuer_code;
  std::string issuer_name;
  std::string subject;
  std::string urgency;
  std::string confidentiality;
  std::string issued_at;
  int64_t received_at_ms = 0;
  int64_t deliveries = 0;
};

struct DirectiveDetail {
  DirectiveSummary summary;
  std::vector<StateCount> counts;  // by channel and state
};

struct DeliveryRow {
  int64_t id = 0;
  std::string directive_id;
  std::string recipient_kind;
  std::string recipient_id;
  std::string recipient_name;
  Channel channel = Channel::sms;
  std::string address;
  DeliveryState state = DeliveryState::queued;
  int attempts = 0;
  std::string error_code;
  std::string error_text;
  int64_t updated_at_ms = 0;
};

struct EventRow {
  int64_t id = 0;
  int64_t delivery_id = 0;  // 0 for directive-level events
  std::string directive_id;
  int64_t at_ms = 0;
  std::string from_state;
  std::string to_state;
  std::string source;
  std::string detail;
};

struct IntakeOutcome {
  bool created = false;      // false: the id was already taken in, nothing was added
  size_t deliveries = 0;     // deliveries created now
  bool same_content = true;  // for a repeat: whether the body matched the first one
};

class Store {
 public:
  virtual ~Store() = default;

  /// Commits the directive and all its deliveries atomically, or nothing. A directive
  /// whose id exists already adds nothing. Throws StoreError.
  virtual IntakeOutcome commit_directive(const Directive& d, std::string_view raw,
                                         const std::vector<PlannedDelivery>& deliveries) = 0;

  virtual std::vector<DirectiveSummary> list_directives(size_t limit, size_t offset) = 0;
  virtual std::optional<DirectiveDetail> directive(const std::string& id) = 0;
  virtual std::vector<DeliveryRow> deliveries(const std::string& directive_id) = 0;
  virtual std::vector<EventRow> events(const std::string& directive_id) = 0;
  /// Deliveries of every directive by channel and state (for /metrics).
  virtual std::vector<StateCount> delivery_counts() = 0;
  virtual int64_t directive_count() = 0;
  /// True when the store answers a trivial query.
  virtual bool ping() = 0;
};

/// Opens (creating and migrating as needed) an SQLite store in WAL mode.
std::unique_ptr<Store> open_sqlite_store(const std::string& path, int64_t busy_timeout_ms = 5000);

}  // namespace herald
