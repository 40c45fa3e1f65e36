// store (SQLite): atomic intake commit, idempotence by id, counts, the append-only event
// log, migrations on reopen, and refusal of a newer schema.
#include "planner/planner.hpp"
#include "store/store.hpp"

#include <climits>
#include <cstdint>
#include <map>
#include <stdexcept>

#include <gtest/gtest.h>

#include "raw_db.hpp"
#include "store/migrations.hpp"
#include "core/time.hpp"
#include "support.hpp"

namespace herald {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto parsed = parse_directive(test::seed_json());
    ASSERT_TRUE(parsed.directive) << parsed.summary();
    seed_ = *parsed.directive;
    auto dir = test::example_directory();
    plan_ = plan_deliveries(seed_, *dir, test::config_with(dir));
    ASSERT_EQ(plan_.deliveries.size(), 92u);
  }

  std::map<std::pair<Channel, DeliveryState>, int64_t> counts(const std::vector<StateCount>& v) {
    std::map<std::pair<Channel, DeliveryState>, int64_t> out;
    for (const auto& c : v) out[{c.channel, c.state}] = c.count;
    return out;
  }

  test::TempDir tmp_;
  std::string path_ = tmp_.file("store/herald.db");  // the folder is created on open
  Directive seed_;
  Plan plan_;
};

TEST_F(StoreTest, CommitCreatesDirectiveDeliveriesAndEvents) {
  auto store = test::open_store(path_);
  EXPECT_TRUE(store->ping());
  EXPECT_EQ(store->directive_count(), 0);

  IntakeOutcome out = store->commit_directive(seed_, test::seed_json(), plan_.deliveries);
  EXPECT_TRUE(out.created);
  EXPECT_EQ(out.deliveries, 92u);
  EXPECT_EQ(store->directive_count(), 1);

  auto list = store->list_directives(50, 0);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].id, test::kSeedId);
  EXPECT_EQ(list[0].number, "158-CV/HU");
  EXPECT_EQ(list[0].issuer_code, "HU-CHAUTHANH");
  EXPECT_EQ(list[0].issuer_name, "Huyện ủy Châu Thành");
  EXPECT_EQ(list[0].urgency, "khan");
  EXPECT_EQ(list[0].confidentiality, "normal");
  EXPECT_EQ(list[0].issued_at, "2021-07-12T08:00:00+07:00");
  EXPECT_EQ(list[0].deliveries, 92);
  EXPECT_GT(list[0].received_at_ms, 0);
  EXPECT_TRUE(store->list_directives(50, 1).empty());

  auto detail = store->directive(test::kSeedId);
  ASSERT_TRUE(detail.has_value());
  EXPECT_EQ(detail->summary.subject, seed_.subject);
  EXPECT_EQ(counts(detail->counts),
            (std::map<std::pair<Channel, DeliveryState>, int64_t>{
                {{Channel::email, DeliveryState::queued}, 30},
                {{Channel::sms, DeliveryState::queued}, 37},
                {{Channel::zalo, DeliveryState::queued}, 25}}));
  EXPECT_EQ(counts(store->delivery_counts()), counts(detail->counts));
  EXPECT_FALSE(store->directive("hu-chauthanh/159-CV/HU/2021").has_value());

  auto rows = store->deliveries(test::kSeedId);
  ASSERT_EQ(rows.size(), 92u);
  auto chair = std::find_if(rows.begin(), rows.end(), [](const DeliveryRow& r) {
    return r.recipient_id == "ct-ubnd-an-hiep" && r.channel == Channel::zalo;
  });
  ASSERT_NE(chair, rows.end());
  EXPECT_EQ(chair->directive_id, test::kSeedId);
  EXPECT_EQ(chair->recipient_kind, "person");
  EXPECT_EQ(chair->recipient_name, "Lê Văn Phước (giả định)");
  EXPECT_EQ(chair->address, "1000000000000013");
  EXPECT_EQ(chair->state, DeliveryState::queued);
  EXPECT_EQ(chair->attempts, 0);

  auto events = store->events(test::kSeedId);
  ASSERT_EQ(events.size(), 93u);  // one per delivery, then the directive's
  std::set<int64_t> delivery_ids;
  for (const auto& r : rows) delivery_ids.insert(r.id);
  for (size_t i = 0; i < 92; ++i) {
    EXPECT_TRUE(delivery_ids.count(events[i].delivery_id));
    EXPECT_EQ(events[i].from_state, "");
    EXPECT_EQ(events[i].to_state, "queued");
    EXPECT_EQ(events[i].source, "intake");
  }
  EXPECT_EQ(events[92].delivery_id, 0);
  EXPECT_EQ(events[92].to_state, "received");
  EXPECT_EQ(events[92].detail, "92 deliveries");
}

TEST_F(StoreTest, SecondCommitOfTheSameIdAddsNothing) {
  auto store = test::open_store(path_);
  ASSERT_TRUE(store->commit_directive(seed_, test::seed_json(), plan_.deliveries).created);

  IntakeOutcome again = store->commit_directive(seed_, test::seed_json(), plan_.deliveries);
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.deliveries, 0u);
  EXPECT_TRUE(again.same_content);

  IntakeOutcome changed =
      store->commit_directive(seed_, test::seed_json() + " ", plan_.deliveries);
  EXPECT_FALSE(changed.created);
  EXPECT_FALSE(changed.same_content);

  EXPECT_EQ(store->directive_count(), 1);
  EXPECT_EQ(store->deliveries(test::kSeedId).size(), 92u);
  EXPECT_EQ(store->events(test::kSeedId).size(), 93u);
}

TEST_F(StoreTest, FailedDeliveriesAreCountedByState) {
  auto store = test::open_store(path_);
  Directive d = seed_;
  d.id = "test/no-contact";
  PlannedDelivery failed{"person", "vt-huyen-uy", "Huỳnh Văn Em (giả định)", Channel::sms, "",
                         DeliveryState::failed, "no_contact", "no contact", {}, 0, Purpose::directive, {}};
  PlannedDelivery queued{"zone", "an-hiep", "Xã An Hiệp", Channel::loudspeaker, "an-hiep",
                         DeliveryState::queued, "", "", {}, 0, Purpose::directive, {}};
  ASSERT_TRUE(store->commit_directive(d, "{}", {failed, queued}).created);
  auto detail = store->directive("test/no-contact");
  ASSERT_TRUE(detail.has_value());
  EXPECT_EQ(counts(detail->counts),
            (std::map<std::pair<Channel, DeliveryState>, int64_t>{
                {{Channel::loudspeaker, DeliveryState::queued}, 1},
                {{Channel::sms, DeliveryState::failed}, 1}}));
  auto rows = store->deliveries("test/no-contact");
  ASSERT_EQ(rows.size(), 2u);  // in the order they were planned (id order)
  EXPECT_EQ(rows[0].recipient_id, "vt-huyen-uy");
  EXPECT_EQ(rows[0].error_code, "no_contact");
  EXPECT_EQ(rows[0].error_text, "no contact");
  auto events = store->events("test/no-contact");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].to_state, "failed");  // in the order given
  EXPECT_EQ(events[0].detail, "no_contact");
  EXPECT_EQ(events[1].to_state, "queued");
  EXPECT_EQ(events[2].to_state, "received");
}

TEST_F(StoreTest, EventsCannotBeChangedOrDeleted) {
  {
    auto store = test::open_store(path_);
    store->commit_directive(seed_, test::seed_json(), plan_.deliveries);
  }
  test::RawDb db(path_);
  ASSERT_EQ(db.scalar("SELECT COUNT(*) FROM events"), 93);
  std::string error;
  EXPECT_EQ(db.exec("UPDATE events SET detail = 'rewritten' WHERE id = 1", &error),
            SQLITE_CONSTRAINT);
  EXPECT_EQ(error, "events are append-only");
  EXPECT_EQ(db.exec("DELETE FROM events", &error), SQLITE_CONSTRAINT);
  EXPECT_EQ(error, "events are append-only");
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM events"), 93);
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM events WHERE detail = 'rewritten'"), 0);
  // Appending is what the log is for.
  EXPECT_EQ(db.exec("INSERT INTO events(directive_id, at_ms, from_state, to_state, source)"
                    " VALUES ('x', 1, 'queued', 'sending', 'test')"),
            SQLITE_OK);
}

TEST_F(StoreTest, ReopeningKeepsDataAndDoesNotMigrateAgain) {
  if (test::postgres_mode()) GTEST_SKIP() << "SQLite's file and PRAGMA user_version (shared_store_test covers PostgreSQL's)";
  {
    auto store = test::open_store(path_);
    store->commit_directive(seed_, test::seed_json(), plan_.deliveries);
  }
  const auto version = static_cast<int64_t>(migrations::kSqlite.size());
  {
    test::RawDb db(path_);
    EXPECT_EQ(db.scalar("PRAGMA user_version"), version);
    EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'events_no_update'"), 1);
    // A marker table: if the migrations ran again they would fail on "table exists";
    // if the file were recreated the marker would be gone.
    ASSERT_EQ(db.exec("CREATE TABLE reopen_marker(x)"), SQLITE_OK);
  }
  auto store = test::open_store(path_);
  EXPECT_EQ(store->directive_count(), 1);
  EXPECT_EQ(store->deliveries(test::kSeedId).size(), 92u);
  EXPECT_FALSE(store->commit_directive(seed_, test::seed_json(), plan_.deliveries).created);
  test::RawDb db(path_);
  EXPECT_EQ(db.scalar("PRAGMA user_version"), version);
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'reopen_marker'"), 1);
  EXPECT_EQ(db.text("PRAGMA journal_mode"), "wal");
}

TEST_F(StoreTest, StoreFromANewerHeralddIsRefused) {
  if (test::postgres_mode()) GTEST_SKIP() << "SQLite's file and PRAGMA user_version (shared_store_test covers PostgreSQL's)";
  std::filesystem::create_directories(tmp_.path() / "store");
  {
    test::RawDb db(path_);
    ASSERT_EQ(db.exec("CREATE TABLE directives(id TEXT); PRAGMA user_version = 99"), SQLITE_OK);
  }
  try {
    test::open_store(path_);
    FAIL() << "opened a store of schema version 99";
  } catch (const StoreError& e) {
    EXPECT_EQ(std::string(e.what()),
              "store schema version 99 is newer than this heraldd knows (" +
                  std::to_string(migrations::kSqlite.size()) + "): refusing to open");
  }
  test::RawDb db(path_);
  EXPECT_EQ(db.scalar("PRAGMA user_version"), 99);  // left as it was
}

TEST_F(StoreTest, UnwritableLocationIsAStoreError) {
  if (test::postgres_mode()) GTEST_SKIP() << "SQLite's file and PRAGMA user_version (shared_store_test covers PostgreSQL's)";
  test::write_file(tmp_.file("file"), "x");
  EXPECT_THROW(test::open_store(tmp_.file("file/herald.db")), std::exception);
}

// A large directive is committed in parts, so that sending starts while the rest is
// planned; it counts as taken in only when the last part is.
class PartedIntakeTest : public StoreTest {
 protected:
  static std::vector<PlannedDelivery> many(size_t n) {
    std::vector<PlannedDelivery> out;
    for (size_t i = 0; i < n; ++i)
      out.push_back({"person", "p" + std::to_string(100000 + i), "Cán bộ", Channel::sms,
                     "+849" + std::to_string(10000000 + i), DeliveryState::queued, {}, {}, {}, 0, Purpose::directive, {}});
    return out;
  }
  /// Emits `all`, throwing (as a crash would stop it) after `stop_after` of them.
  static DeliverySource source(const std::vector<PlannedDelivery>& all, size_t stop_after = SIZE_MAX) {
    return [&all, stop_after](const std::function<void(const PlannedDelivery&)>& emit) {
      for (size_t i = 0; i < all.size(); ++i) {
        if (i == stop_after) throw std::runtime_error("stopped");
        emit(all[i]);
      }
    };
  }
  int64_t scalar(const std::string& sql) { return test::RawDb(path_).scalar(sql); }
};

TEST_F(PartedIntakeTest, PartsAreVisibleBeforeTheWholeIsTakenIn) {
  auto store = test::open_store(path_);
  const auto all = many(12500);  // parts: 1,000, then 10,000, then the last 1,500
  std::vector<std::pair<int64_t, bool>> seen;  // (deliveries visible, complete) at each part
  IntakeOutcome out = store->commit_directive(seed_, "{}", source(all), [&] {
    seen.emplace_back(scalar("SELECT COUNT(*) FROM deliveries"), store->taken_in(seed_.id)->complete);
  });
  EXPECT_TRUE(out.created);
  EXPECT_FALSE(out.resumed);
  EXPECT_EQ(out.deliveries, 12500u);
  EXPECT_EQ(seen, (std::vector<std::pair<int64_t, bool>>{{1000, false}, {11000, false}}));
  EXPECT_TRUE(store->taken_in(seed_.id)->complete);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM deliveries"), 12500);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM events WHERE delivery_id IS NOT NULL"), 12500);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM events WHERE delivery_id IS NULL AND to_state = 'received'"), 1);
  EXPECT_FALSE(store->commit_directive(seed_, "{}", source(all)).created);  // a repeat adds nothing
}

TEST_F(PartedIntakeTest, AnIntakeStoppedHalfWayIsFinishedByTheRedeliveredMessage) {
  const auto all = many(2500);
  {
    auto store = test::open_store(path_);
    EXPECT_THROW(store->commit_directive(seed_, "{}", source(all, 1700)), std::runtime_error);
    // The first part (1,000) is in; the second was rolled back with the stop.
    EXPECT_EQ(scalar("SELECT COUNT(*) FROM deliveries"), 1000);
    ASSERT_TRUE(store->taken_in(seed_.id).has_value());
    EXPECT_FALSE(store->taken_in(seed_.id)->complete);
    // Another body under the same id does not finish it; the first one will.
    EXPECT_FALSE(store->commit_directive(seed_, "{\"other\": 1}", source(all)).created);
    EXPECT_FALSE(store->taken_in(seed_.id)->complete);
  }
  auto store = test::open_store(path_);  // as after a restart
  IntakeOutcome out = store->commit_directive(seed_, "{}", source(all));
  EXPECT_TRUE(out.created);
  EXPECT_TRUE(out.resumed);
  EXPECT_EQ(out.deliveries, 2500u);
  EXPECT_TRUE(store->taken_in(seed_.id)->complete);
  // Each delivery once, with one intake event, whichever run added it.
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM deliveries"), 2500);
  EXPECT_EQ(scalar("SELECT COUNT(DISTINCT recipient_id) FROM deliveries"), 2500);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM events WHERE delivery_id IS NOT NULL"), 2500);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM events WHERE to_state = 'received' AND detail LIKE '%resumed: 1500 added now%'"), 1);
}

TEST_F(PartedIntakeTest, ADirectiveCancelledWhileTakenInGetsNoMoreDeliveries) {
  auto store = test::open_store(path_);
  const auto all = many(12500);
  bool cancelled = false;
  IntakeOutcome out = store->commit_directive(seed_, "{}", source(all), [&] {
    if (!cancelled) cancelled = store->cancel_directive(seed_.id, "office", "sai đối tượng", now_ms()).found;
  });
  EXPECT_TRUE(cancelled);
  EXPECT_TRUE(out.created);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM deliveries"), 1000);
  // The first part waits for the cancel's batches.
  EXPECT_EQ(store->unfinished_cancels(), std::vector<std::string>{seed_.id});
  for (CancelBatch b; !b.done;) b = store->cancel_waiting(seed_.id, b.after, 400, now_ms());
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM deliveries WHERE state = 'cancelled'"), 1000);
  EXPECT_TRUE(store->taken_in(seed_.id)->complete);
}

}  // namespace
}  // namespace herald
