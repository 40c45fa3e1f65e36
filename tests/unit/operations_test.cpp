// Operations: an operator's cancel and replay in bounded batches on the store writer, the
// first answered at once, the rest following on their own, and what a stop cut short
// finished by resume().
#include <atomic>
#include <chrono>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "core/time.hpp"
#include "operations/operations.hpp"
#include "store/writer.hpp"
#include "support.hpp"

namespace herald {
namespace {

using S = DeliveryState;
constexpr size_t kDeliveries = 25;
constexpr size_t kBatch = 10;

class OperationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = test::open_store(tmp_.file("herald.db"));
    writer_ = std::make_unique<StoreWriter>(*store_, io_);
    Directive d = *parse_directive(test::seed_json()).directive;
    d.id = kId;
    std::vector<PlannedDelivery> planned;
    for (size_t i = 0; i < kDeliveries; ++i)
      planned.push_back({"person", "p" + std::to_string(100 + i), "Người " + std::to_string(i), Channel::sms,
                         "+84912000" + std::to_string(100 + i), S::queued, "", "", {}, 0, Purpose::directive, {}});
    ASSERT_TRUE(store_->commit_directive(d, "{}", planned).created);
    ops_ = std::make_unique<Operations>(*store_, writer_.get(), &io_, nullptr, [this] { ++kicks_; }, kBatch);
  }
  void TearDown() override { writer_->stop(); }

  /// Runs the loop until `done()` (bounded, so a stuck operation fails the test).
  template <class Pred>
  void run_until(Pred done) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!done() && std::chrono::steady_clock::now() < give_up) io_.run_one_for(std::chrono::milliseconds(20));
    ASSERT_TRUE(done());
  }

  size_t in_state(S s) {
    size_t n = 0;
    for (const auto& r : store_->deliveries(kId)) n += r.state == s;
    return n;
  }

  static constexpr const char* kId = "t/operations";
  test::TempDir tmp_;
  std::unique_ptr<Store> store_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_ = boost::asio::make_work_guard(io_);
  std::unique_ptr<StoreWriter> writer_;
  std::unique_ptr<Operations> ops_;
  int kicks_ = 0;
};

TEST_F(OperationsTest, CancelAnswersAfterItsFirstBatchAndFinishesOnItsOwn) {
  std::optional<Operations::Cancelled> answer;
  ops_->cancel(kId, "office", "sai đối tượng", [&](std::optional<Operations::Cancelled> c, const std::string& error) {
    EXPECT_TRUE(error.empty()) << error;
    answer = c;
  });
  run_until([&] { return answer.has_value(); });
  EXPECT_TRUE(answer->outcome.found);
  EXPECT_EQ(answer->first.cancelled, kBatch);
  EXPECT_FALSE(answer->first.done);
  EXPECT_EQ(ops_->running(), 1);
  run_until([&] { return ops_->running() == 0; });
  EXPECT_EQ(in_state(S::cancelled), kDeliveries);
  EXPECT_TRUE(store_->unfinished_cancels().empty());
  // Each delivery's event names who cancelled it and why.
  size_t events = 0;
  for (const auto& e : store_->events(kId))
    if (e.delivery_id != 0 && e.to_state == "cancelled") {
      ++events;
      EXPECT_EQ(e.source, "operator:office");
      EXPECT_NE(e.detail.find("sai đối tượng"), std::string::npos);
    }
  EXPECT_EQ(events, kDeliveries);
}

TEST_F(OperationsTest, ACancelAStopCutShortIsFinishedByResume) {
  // Marked, one batch done, then the stop: the store remembers.
  ASSERT_TRUE(store_->cancel_directive(kId, "office", "", now_ms()).found);
  EXPECT_EQ(store_->cancel_waiting(kId, 0, kBatch, now_ms()).cancelled, kBatch);
  EXPECT_EQ(store_->unfinished_cancels(), std::vector<std::string>{kId});
  ops_->resume();
  run_until([&] { return ops_->running() == 0; });
  EXPECT_EQ(in_state(S::cancelled), kDeliveries);
}

TEST_F(OperationsTest, ReplayRunsAsAJobInBatchesAndResumes) {
  for (const auto& r : store_->deliveries(kId)) {
    store_->transition(r.id, {S::sending, Cause::send_started, "test", {}, {}, {}, {}, {}});
    store_->transition(r.id, {S::failed, Cause::gateway_failed, "test", {}, std::string("x"), "refused", {}, {}});
  }
  ASSERT_EQ(in_state(S::failed), kDeliveries);
  // No directory here: every one is skipped (no contact); the job still walks them all.
  std::optional<Operations::Replayed> answer;
  ops_->replay(kId, {}, "office", "thử lại", [&](std::optional<Operations::Replayed> r, const std::string& error) {
    EXPECT_TRUE(error.empty()) << error;
    answer = r;
  });
  run_until([&] { return answer.has_value(); });
  ASSERT_TRUE(answer->job);
  EXPECT_EQ(answer->items.size(), kBatch);
  EXPECT_FALSE(answer->job->done);
  run_until([&] { return ops_->running() == 0; });
  EXPECT_TRUE(store_->unfinished_replays().empty());
  EXPECT_EQ(in_state(S::failed), kDeliveries);  // skipped, not sent

  // A job cut short after its first batch is kept with its cursor, and goes on from there.
  auto job = store_->start_replay(kId, {}, "office", "", now_ms());
  ASSERT_TRUE(job);
  OperatorStore::AddressOf anywhere = [](const std::string&, Channel) { return std::string("+84912000999"); };
  EXPECT_EQ(store_->replay_batch(*job, anywhere, kBatch, now_ms()).size(), kBatch);
  EXPECT_EQ(in_state(S::queued), kBatch);
  ASSERT_EQ(store_->unfinished_replays().size(), 1u);
  EXPECT_EQ(store_->unfinished_replays()[0].cursor, job->cursor);
  while (!job->done) store_->replay_batch(*job, anywhere, kBatch, now_ms());
  EXPECT_EQ(in_state(S::queued), kDeliveries);
  EXPECT_TRUE(store_->unfinished_replays().empty());
  // A cancel ends a replay under way.
  auto late = store_->start_replay(kId, {}, "office", "", now_ms());
  ASSERT_TRUE(late);
  ASSERT_TRUE(store_->cancel_directive(kId, "office", "", now_ms()).found);
  EXPECT_TRUE(store_->unfinished_replays().empty());
  bool cancelled = false;
  EXPECT_FALSE(store_->start_replay(kId, {}, "office", "", now_ms(), &cancelled));
  EXPECT_TRUE(cancelled);
}

TEST_F(OperationsTest, ListingsPageByCursorWithFilters) {
  DeliveryQuery q;
  q.limit = 10;
  auto first = store_->deliveries(kId, q);
  ASSERT_EQ(first.size(), 10u);
  q.after = first.back().id;
  auto second = store_->deliveries(kId, q);
  ASSERT_EQ(second.size(), 10u);
  EXPECT_GT(second.front().id, first.back().id);
  q.after = second.back().id;
  EXPECT_EQ(store_->deliveries(kId, q).size(), kDeliveries - 20);
  DeliveryQuery one;
  one.recipient_id = "p107";
  ASSERT_EQ(store_->deliveries(kId, one).size(), 1u);
  DeliveryQuery failed;
  failed.state = S::failed;
  EXPECT_TRUE(store_->deliveries(kId, failed).empty());
  EventQuery e;
  e.limit = 3;
  auto events = store_->events(kId, e);
  ASSERT_EQ(events.size(), 3u);
  e.after = events.back().id;
  EXPECT_GT(store_->events(kId, e).front().id, events.back().id);
}

}  // namespace
}  // namespace herald
