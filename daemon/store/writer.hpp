#pragma once
// The store's own thread. The event loop never waits for the disk: it hands store work to
// the writer and gets the outcome back as a handler posted to the loop. Work queued while
// a commit is under way is run together as the next batch, one transaction and one disk
// sync for all of it (group commit), so a busy daemon commits in large batches and an idle
// one commits each item at once.
#include <boost/asio/io_context.hpp>
#include <atomic>
#include <boost/asio/post.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "store/store.hpp"

namespace herald {

class StoreWriter {
 public:
  /// `max_batch`: the most items one transaction takes.
  StoreWriter(Store& store, boost::asio::io_context& io, size_t max_batch = 4096);
  ~StoreWriter();
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  /// Runs `work(store)` on the writer thread inside the next batch; once that batch is
  /// committed, posts `done(result, error)` to the event loop. `error` is empty on
  /// success; otherwise the work threw StoreError, or the batch's commit failed, and
  /// nothing it wrote is kept (`result` is then empty). Safe from any thread.
  template <class Work, class Done>
  void submit(Work work, Done done) {
    using R = std::invoke_result_t<Work&, Store&>;
    if constexpr (std::is_void_v<R>) {
      submit([w = std::move(work)](Store& s) mutable { w(s); return true; },
             [d = std::move(done)](std::optional<bool>&&, const std::string& error) mutable { d(error); });
    } else {
      auto result = std::make_shared<std::optional<R>>();
      enqueue(Item{[result, w = std::move(work)](Store& s) mutable { result->emplace(w(s)); },
                   [result, d = std::move(done)](const std::string& error) mutable {
                     if (!error.empty()) result->reset();
                     d(std::move(*result), error);
                   },
                   {}});
    }
  }

  /// As submit(), but `work` runs in a transaction of its own rather than with the batch:
  /// for work that may wait on rows another instance holds (a receipt for a delivery
  /// another instance sent), which inside a batch could close a deadlock cycle.
  template <class Work, class Done>
  void submit_alone(Work work, Done done) {
    using R = std::invoke_result_t<Work&, Store&>;
    auto result = std::make_shared<std::optional<R>>();
    enqueue(Item{[result, w = std::move(work)](Store& s) mutable { result->emplace(w(s)); },
                 [result, d = std::move(done)](const std::string& error) mutable {
                   if (!error.empty()) result->reset();
                   d(std::move(*result), error);
                 },
                 {}, false, true});
  }

  /// Runs what is queued, then ends the thread. Later submissions are refused (their
  /// `done` gets an error). Called before the event loop stops, so every completion runs.
  void stop();

  /// Items waiting (for /metrics), and how many batches and items have been committed.
  size_t queued() const;
  uint64_t batches() const { return batches_; }
  uint64_t items() const { return items_; }

  /// How long the batch under way has been running; zero while the writer waits for work.
  /// The systemd watchdog stops its keep-alives when this grows too long (a hung disk, a
  /// store lock never released): nothing handed to the writer would be recorded then.
  std::chrono::steady_clock::duration busy_for() const;

  /// True while the store refuses writes (disk full, locked by another process, I/O
  /// errors): a batch failed so, and writes have not yet gone in for 10 s without a
  /// refusal since. /readyz reports it. While it lasts and no work comes, the writer
  /// tries a one-row write every second, so the state clears when the store recovers
  /// even if nothing else is written.
  bool unavailable() const { return unavailable_; }
  /// A store error met elsewhere (intake commits on its own thread): when it says the
  /// store refuses writes, unavailable() says so too until a write gets in. Any thread.
  void note(const StoreError& e) {
    if (e.unavailable()) set_unavailable(true, e.what());
  }

 private:
  struct Item {
    std::function<void(Store&)> work;
    std::function<void(const std::string&)> done;
    std::string error;
    bool unavailable = false;  // error was the store refusing writes, not this item
    bool alone = false;        // its own transaction (submit_alone)
  };
  /// Runs `items` in one transaction, again (up to kConflictAttempts) when PostgreSQL ended
  /// it to break a deadlock; sets each item's error, and `down` when the store refused.
  void commit(std::vector<Item*>& items, std::string& down);
  static constexpr int kConflictAttempts = 5;
  /// After a batch: whether the store took it, logged when that changes.
  void set_unavailable(bool down, const std::string& why);
  static constexpr int64_t kRecoveryMs = 10'000;
  void enqueue(Item item);
  void run();

  Store& store_;
  boost::asio::io_context& io_;
  const size_t max_batch_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> items_{0};
  std::atomic<std::chrono::steady_clock::rep> batch_started_{0};  // 0: idle
  std::atomic<bool> unavailable_{false};
  std::atomic<int64_t> last_refusal_ms_{0};
  std::thread thread_;
};

/// Runs `work(store)` as StoreWriter::submit() does, choosing how: through `writer`, in a
/// transaction of its own (submit_alone) when several instances share the store, since it
/// may wait on rows another instance's batch holds; without a writer (unit tests), at once
/// on the calling thread, `done` called before this returns.
template <class Work, class Done>
void run_store_work(StoreWriter* writer, Store& store, Work work, Done done) {
  using R = std::invoke_result_t<Work&, Store&>;
  static_assert(!std::is_void_v<R>, "run_store_work: work returns its outcome");
  if (!writer) {
    std::optional<R> result;
    std::string error;
    try {
      result.emplace(work(store));
    } catch (const StoreError& e) {
      error = e.what();
    }
    done(std::move(result), error);
    return;
  }
  if (store.shared()) writer->submit_alone(std::move(work), std::move(done));
  else writer->submit(std::move(work), std::move(done));
}

}  // namespace herald
