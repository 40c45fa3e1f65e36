#pragma once
// An operator's cancel or replay of a directive, carried out in bounded batches on the
// store writer, never as one transaction on the event loop: a cancel is marked at once (one
// row: nothing of the directive is claimed for sending from then on) and its waiting
// deliveries are cancelled batch by batch; a replay is a job in the store whose batches
// move its cursor. What a stop cuts short, resume() finishes at the next start. A directive
// of a million deliveries is thus a few hundred batches, each a short transaction among
// the writer's other work: /healthz, receipts and sends go on meanwhile.
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "directory/directory.hpp"
#include "store/store.hpp"
#include "store/writer.hpp"

namespace herald {

class Operations {
 public:
  using DirectoryFn = std::function<std::shared_ptr<const Directory>()>;
  /// `writer` absent (unit tests): every batch runs at once on the calling thread. `io`:
  /// the event loop, where a batch the store refused is tried again a second later (absent:
  /// the run stops there, and resume() takes it up). `on_queued` wakes the dispatcher after
  /// a replay batch queued deliveries.
  Operations(Store& store, StoreWriter* writer, boost::asio::io_context* io, DirectoryFn directory,
             std::function<void()> on_queued, size_t batch = kBatch);

  /// Deliveries per batch: set-based statements over the directive's own index, some tens
  /// of milliseconds of the writer's time.
  static constexpr size_t kBatch = 10000;

  struct Cancelled {
    CancelOutcome outcome;
    CancelBatch first;  // the first batch (all of it, for a directive of up to `batch` waiting)
  };
  /// Marks `id` cancelled, runs the first batch, then `done` (with the store's error text,
  /// if it failed); later batches follow on their own until none waits.
  void cancel(const std::string& id, const std::string& by, const std::string& reason,
              std::function<void(std::optional<Cancelled>, const std::string& error)> done);

  struct Replayed {
    bool cancelled = false;  // the directive is cancelled: nothing replayed
    std::optional<ReplayJob> job;  // after its first batch
    std::vector<ReplayItem> items;  // the first batch's
  };
  /// Starts a replay job, runs its first batch, then `done`; later batches follow.
  /// nullopt: no such directive.
  void replay(const std::string& id, const ReplayFilter& filter, const std::string& by, const std::string& reason,
              std::function<void(std::optional<Replayed>, const std::string& error)> done);

  /// The current address of a recipient on a channel (what a replay sends to).
  OperatorStore::AddressOf address_of() const;

  /// Finishes the cancels and replays a stop cut short. Throws StoreError.
  void resume();

  /// Cancels and replays with batches still to run (for /metrics and tests).
  int64_t running() const { return running_; }

 private:
  void next_cancel(std::string id, int64_t after);
  void next_replay(ReplayJob job);
  /// Runs `again` a second from now on the loop; false when there is no loop.
  bool later(std::function<void()> again);

  Store& store_;
  StoreWriter* writer_;
  boost::asio::io_context* io_;
  DirectoryFn directory_;
  std::function<void()> on_queued_;
  const size_t batch_;
  std::atomic<int64_t> running_{0};
};

}  // namespace herald
