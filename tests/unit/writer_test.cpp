// StoreWriter: store work off the event loop, committed in batches (group commit), each
// item all-or-nothing, outcomes delivered on the loop only after their commit.
#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "raw_db.hpp"
#include "store/writer.hpp"
#include "support.hpp"

namespace herald {
namespace {

class StoreWriterTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = test::open_store(tmp_.file("herald.db")); }

  /// Runs the loop until `n` completions have run (bounded, so a broken writer fails).
  void run_until(const std::atomic<int>& done, int n) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (done < n && std::chrono::steady_clock::now() < give_up) io_.run_one_for(std::chrono::milliseconds(20));
    ASSERT_EQ(done, n);
  }

  std::string kept(const std::string& gateway, const std::string& key) {
    auto m = store_->gateway_state(gateway);
    auto it = m.find(key);
    return it == m.end() ? std::string() : it->second;
  }

  test::TempDir tmp_;
  std::unique_ptr<Store> store_;
  boost::asio::io_context io_;
  // Keeps run_one_for() waiting for completions instead of returning at once.
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_ = boost::asio::make_work_guard(io_);
};

TEST_F(StoreWriterTest, CompletionRunsOnTheLoopAfterTheCommit) {
  StoreWriter writer(*store_, io_);
  std::atomic<int> done{0};
  const auto loop_thread = std::this_thread::get_id();
  std::thread::id work_thread;
  writer.submit(
      [&](Store& s) {
        work_thread = std::this_thread::get_id();
        s.put_gateway_state("gw", {{"k", "v"}});
        return 42;
      },
      [&](std::optional<int>&& r, const std::string& error) {
        EXPECT_EQ(std::this_thread::get_id(), loop_thread);
        EXPECT_TRUE(error.empty()) << error;
        EXPECT_EQ(r, 42);
        // Committed: another connection sees it.
        EXPECT_EQ(test::RawDb(tmp_.file("herald.db")).text("SELECT value FROM gateway_state WHERE gateway = 'gw'"), "v");
        ++done;
      });
  run_until(done, 1);
  EXPECT_NE(work_thread, loop_thread);
}

TEST_F(StoreWriterTest, WorkQueuedDuringACommitIsCommittedAsOneBatch) {
  StoreWriter writer(*store_, io_);
  std::atomic<int> done{0};
  std::promise<void> release;
  auto gate = release.get_future().share();
  // The first item holds the writer while 200 more are queued behind it.
  writer.submit([gate](Store& s) { gate.wait(); s.put_gateway_state("gw", {{"first", "1"}}); }, [&](const std::string& e) {
    EXPECT_TRUE(e.empty()) << e;
    ++done;
  });
  while (writer.queued() != 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  for (int i = 0; i < 200; ++i)
    writer.submit([i](Store& s) { s.put_gateway_state("gw", {{"k" + std::to_string(i), "v"}}); },
                  [&](const std::string& e) {
                    EXPECT_TRUE(e.empty()) << e;
                    ++done;
                  });
  release.set_value();
  run_until(done, 201);
  EXPECT_EQ(writer.items(), 201u);
  EXPECT_EQ(writer.batches(), 2u);
  EXPECT_EQ(store_->gateway_state("gw").size(), 201u);
}

TEST_F(StoreWriterTest, AFailedItemLeavesNothingAndTheRestOfItsBatchCommits) {
  StoreWriter writer(*store_, io_);
  std::atomic<int> done{0};
  std::promise<void> release;
  auto gate = release.get_future().share();
  std::string failed_error, other_error = "unset";
  writer.submit([gate](Store&) { gate.wait(); }, [&](const std::string&) { ++done; });
  while (writer.queued() != 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // Two store calls, then a failure: the first call's write must go too.
  writer.submit(
      [](Store& s) {
        s.put_gateway_state("gw", {{"half", "written"}});
        throw StoreError("disk full (simulated)");
      },
      [&](const std::string& e) {
        failed_error = e;
        ++done;
      });
  writer.submit([](Store& s) { s.put_gateway_state("gw", {{"other", "kept"}}); },
                [&](const std::string& e) {
                  other_error = e;
                  ++done;
                });
  release.set_value();
  run_until(done, 3);
  EXPECT_EQ(failed_error, "disk full (simulated)");
  EXPECT_EQ(other_error, "");
  EXPECT_EQ(kept("gw", "half"), "");
  EXPECT_EQ(kept("gw", "other"), "kept");
  EXPECT_EQ(writer.batches(), 2u);  // the failure did not split or abort the batch
}

TEST_F(StoreWriterTest, AResultIsEmptyWhenItsWorkFailed) {
  StoreWriter writer(*store_, io_);
  std::atomic<int> done{0};
  writer.submit([](Store&) -> int { throw std::runtime_error("bad input"); },
                [&](std::optional<int>&& r, const std::string& error) {
                  EXPECT_FALSE(r.has_value());
                  EXPECT_NE(error.find("bad input"), std::string::npos) << error;
                  ++done;
                });
  run_until(done, 1);
}

TEST_F(StoreWriterTest, StopCommitsWhatIsQueuedAndRefusesMore) {
  std::atomic<int> done{0};
  {
    StoreWriter writer(*store_, io_);
    for (int i = 0; i < 50; ++i)
      writer.submit([i](Store& s) { s.put_gateway_state("gw", {{"k" + std::to_string(i), "v"}}); },
                    [&](const std::string&) { ++done; });
    writer.stop();
    EXPECT_EQ(store_->gateway_state("gw").size(), 50u);  // on disk before stop() returned
    std::string refused;
    writer.submit([](Store& s) { s.put_gateway_state("gw", {{"late", "v"}}); },
                  [&](const std::string& e) {
                    refused = e;
                    ++done;
                  });
    run_until(done, 51);
    EXPECT_NE(refused.find("stopped"), std::string::npos) << refused;
  }
  EXPECT_EQ(kept("gw", "late"), "");
}

}  // namespace
}  // namespace herald
