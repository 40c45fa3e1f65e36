#include "store/writer.hpp"

#include "core/log.hpp"

namespace herald {

StoreWriter::StoreWriter(Store& store, boost::asio::io_context& io, size_t max_batch)
    : store_(store), io_(io), max_batch_(std::max<size_t>(max_batch, 1)), thread_([this] { run(); }) {}

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

void StoreWriter::run() {
  std::vector<Item> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything ran
      const size_t n = std::min(queue_.size(), max_batch_);
      batch.clear();
      batch.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    std::string failed;
    try {
      store_.batch([&] {
        for (Item& item : batch) {
          try {
            store_.atomically([&] { item.work(store_); });
          } catch (const StoreError& e) {
            item.error = e.what();
          } catch (const std::exception& e) {
            // Not the store's fault, but the item's writes are undone all the same.
            item.error = std::string("store work failed: ") + e.what();
          }
        }
      });
    } catch (const StoreError& e) {
      failed = e.what();
      log::error("store: a batch of ", batch.size(), " could not be committed: ", failed);
    } catch (const std::exception& e) {
      failed = std::string("store batch: ") + e.what();
      log::error(failed);
    }
    ++batches_;
    items_ += batch.size();
    for (Item& item : batch) {
      std::string error = failed.empty() ? std::move(item.error) : failed;
      boost::asio::post(io_, [done = std::move(item.done), error = std::move(error)] { done(error); });
    }
  }
}

}  // namespace herald
