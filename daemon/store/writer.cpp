#include "store/writer.hpp"

#include "core/log.hpp"
#include "core/time.hpp"
#include "core/thread_name.hpp"

namespace herald {

StoreWriter::StoreWriter(Store& store, boost::asio::io_context& io, size_t max_batch)
    : store_(store), io_(io), max_batch_(std::max<size_t>(max_batch, 1)), thread_([this] {
        name_this_thread("herald-store");
        run();
      }) {}

StoreWriter::~StoreWriter() { stop(); }

void StoreWriter::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

size_t StoreWriter::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

std::chrono::steady_clock::duration StoreWriter::busy_for() const {
  const auto started = batch_started_.load();
  if (started == 0) return {};
  return std::chrono::steady_clock::now().time_since_epoch() - std::chrono::steady_clock::duration(started);
}

void StoreWriter::enqueue(Item item) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      queue_.push_back(std::move(item));
      cv_.notify_one();
      return;
    }
  }
  boost::asio::post(io_, [done = std::move(item.done)] { done("the store writer has stopped"); });
}

void StoreWriter::set_unavailable(bool down, const std::string& why) {
  const int64_t now = now_ms();
  if (down) {
    last_refusal_ms_ = now;
    if (!unavailable_.exchange(true))
      log::error("store: refuses writes (", why, "); /readyz says not ready until it takes them again");
    return;
  }
  // A full disk still takes a small write now and then (a free page, room left in the
  // WAL): the store counts as writable again only after kRecoveryMs without a refusal.
  if (unavailable_ && now - last_refusal_ms_ >= kRecoveryMs && unavailable_.exchange(false))
    log::info("store: takes writes again");
}

void StoreWriter::commit(std::vector<Item*>& items, std::string& down) {
  for (int attempt = 1;; ++attempt) {
    for (Item* item : items) {
      item->error.clear();
      item->unavailable = false;
    }
    std::string failed;
    bool conflict = false;
    try {
      store_.batch([&] {
        for (Item* item : items) {
          try {
            store_.atomically([&] { item->work(store_); });
          } catch (const StoreError& e) {
            // Another instance's transaction and this one wait on each other (PostgreSQL
            // ended the deadlock here): undoing this item alone would keep the batch's
            // locks and meet the same deadlock again. The whole transaction runs again.
            if (e.conflict()) throw;
            item->error = e.what();
            item->unavailable = e.unavailable();
          } catch (const std::exception& e) {
            // Not the store's fault, but the item's writes are undone all the same.
            item->error = std::string("store work failed: ") + e.what();
          }
        }
      });
    } catch (const StoreError& e) {
      failed = e.what();
      conflict = e.conflict();
      if (!conflict) down = failed;
    } catch (const std::exception& e) {
      failed = std::string("store batch: ") + e.what();
      down = failed;
    }
    if (failed.empty()) {
      for (Item* item : items)
        if (down.empty() && item->unavailable) down = item->error;
      return;
    }
    if (conflict && attempt < kConflictAttempts) {
      log::warning("store: ", failed, "; the batch of ", items.size(), " runs again");
      continue;
    }
    log::error("store: a batch of ", items.size(), " could not be committed: ", failed);
    for (Item* item : items) item->error = failed;
    return;
  }
}

void StoreWriter::run() {
  std::vector<Item> batch;
  for (;;) {
    bool probe = false;
    {
      std::unique_lock lock(mu_);
      auto ready = [&] { return stopping_ || !queue_.empty(); };
      // Wakes once a second when idle: unavailable() may have been set from another thread
      // (note()), and then the store is probed.
      if (!cv_.wait_for(lock, std::chrono::seconds(1), ready)) {
        if (!unavailable_) continue;
        probe = true;
      }
    }
    if (probe) {
      // Nothing to write, and the store refused the last batch: does it take writes now?
      // Timed like a batch, so that a probe hanging on the disk stops the watchdog too.
      batch_started_ = std::chrono::steady_clock::now().time_since_epoch().count();
      try {
        store_.batch([&] { store_.put_gateway_state("", {{"writable_probe", std::to_string(now_ms())}}); });
        set_unavailable(false, {});
      } catch (const StoreError& e) {
        set_unavailable(e.unavailable(), e.what());
      } catch (const std::exception& e) {
        set_unavailable(true, e.what());
      }
      batch_started_ = 0;
      continue;
    }
    {
      std::unique_lock lock(mu_);
      if (queue_.empty()) return;  // stopping, and everything ran
      const size_t n = std::min(queue_.size(), max_batch_);
      batch.clear();
      batch.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    batch_started_ = std::chrono::steady_clock::now().time_since_epoch().count();
    // The items that may wait on another instance's row locks each run in a transaction of
    // their own (a lone row lock cannot close a deadlock cycle); the rest run together.
    std::vector<Item*> together;
    std::string down;  // why the store refused writes, if it did
    for (Item& item : batch)
      if (!item.alone) together.push_back(&item);
    if (!together.empty()) commit(together, down);
    for (Item& item : batch) {
      if (!item.alone) continue;
      std::vector<Item*> one{&item};
      commit(one, down);
    }
    batch_started_ = 0;
    set_unavailable(!down.empty(), down);
    ++batches_;
    items_ += batch.size();
    // One handler for the whole batch: a post from another thread locks the loop's queue
    // and may wake it, which per item cost as much as the item.
    auto completions = std::make_shared<std::vector<Item>>(std::move(batch));
    boost::asio::post(io_, [completions] {
      for (Item& item : *completions) item.done(item.error);
    });
    batch = {};
  }
}

}  // namespace herald
