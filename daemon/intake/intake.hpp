#pragma once
// Intake: one directive body in, a decision out (commit, duplicate, reject, retry later).
// No broker code here, so it is tested with plain strings.
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "core/metrics.hpp"
#include "store/store.hpp"

namespace herald {

struct IntakeResult {
  enum class Kind {
    committed,  // new directive and its deliveries are in the store: ack
    duplicate,  // id already taken in: ack, nothing added
    rejected,   // malformed or unresolvable: dead-letter with `reason`, then ack
    retry,      // store failure: do not ack; requeue and try again later
  } kind;
  std::string id;
  std::string reason;
  size_t deliveries = 0;
};

class Intake {
 public:
  using DirectoryFn = std::function<std::shared_ptr<const Directory>()>;
  Intake(Store& store, DirectoryFn directory, const Config& config, Metrics& metrics)
      : store_(store), directory_(std::move(directory)), config_(config), metrics_(metrics) {}

  IntakeResult take(std::string_view body);
  /// Finishes the intakes a stop cut short, from the bodies the store kept (the same
  /// take(), so each delivery is added once). Returns how many. Throws StoreError.
  size_t resume();
  /// Called after a new directive's deliveries are committed (wakes the dispatcher).
  void on_committed(std::function<void()> fn) { on_committed_ = std::move(fn); }
  /// Called (on the consumer thread) when the store refused a directive's commit.
  void on_store_error(std::function<void(const StoreError&)> fn) { on_store_error_ = std::move(fn); }

 private:
  Store& store_;
  DirectoryFn directory_;
  const Config& config_;
  Metrics& metrics_;
  std::function<void()> on_committed_;
  std::function<void(const StoreError&)> on_store_error_;
};

}  // namespace herald
