// The PostgreSQL store as several instances share it: claims that never overlap, leases
// and take-over, the restart rule limited to an instance's own claims, the shared rate
// limit, names in use, the schema version. Runs with HERALD_TEST_STORE=postgres (CTest's
// pg.* tests); with SQLite it has nothing to test and says so.
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "core/time.hpp"
#include "raw_db.hpp"
#include "store/migrations.hpp"
#include "store/store.hpp"
#include "support.hpp"

namespace herald {
namespace {

constexpr const char* kGateway = "kannel-local";

class SharedStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::postgres_mode()) GTEST_SKIP() << "several instances share PostgreSQL only (HERALD_TEST_STORE=postgres)";
    auto parsed = parse_directive(test::seed_json());
    ASSERT_TRUE(parsed.directive) << parsed.summary();
    seed_ = *parsed.directive;
    path_ = tmp_.file("herald.db");
    a_ = open("a", 2000);
    b_ = open("b", 2000);
  }

  std::unique_ptr<Store> open(const std::string& name, int64_t lease_ms) {
    return open_postgres_store(test::postgres_conninfo(path_), {name, lease_ms});
  }

  void commit(const std::string& id, int n) {
    std::vector<PlannedDelivery> ds;
    for (int i = 0; i < n; ++i)
      ds.push_back({"person", "p" + std::to_string(i), "Người " + std::to_string(i), Channel::sms,
                    "+849120" + std::to_string(10000 + i), DeliveryState::queued, "", "", {}, 0, Purpose::directive, {}});
    Directive d = seed_;
    d.id = id;
    ASSERT_TRUE(a_->commit_directive(d, "{}", ds).created);
  }

  test::TempDir tmp_;
  std::string path_;
  Directive seed_;
  std::unique_ptr<Store> a_, b_;
  std::mutex mu_;
};

TEST_F(SharedStoreTest, InstancesClaimDisjointSetsAndMarkThemTheirOwn) {
  commit("d1", 300);
  std::set<int64_t> seen;
  size_t from_a = 0, from_b = 0;
  // Claims from two threads at once: SKIP LOCKED hands each row to one of them.
  std::thread ta([&] {
    for (int i = 0; i < 20; ++i)
      for (const auto& c : a_->claim_due(Channel::sms, kGateway, now_ms(), 10)) {
        ++from_a;
        std::lock_guard lock(mu_);
        EXPECT_TRUE(seen.insert(c.id).second) << c.id;
      }
  });
  for (int i = 0; i < 20; ++i)
    for (const auto& c : b_->claim_due(Channel::sms, kGateway, now_ms(), 10)) {
      ++from_b;
      std::lock_guard lock(mu_);
      EXPECT_TRUE(seen.insert(c.id).second) << c.id;
    }
  ta.join();
  EXPECT_EQ(seen.size(), 300u);
  EXPECT_GT(from_a, 0u);
  EXPECT_GT(from_b, 0u);
  test::RawDb db(path_);
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM deliveries WHERE state = 'sending' AND claimed_by = 'a'"),
            static_cast<int64_t>(from_a));
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM deliveries WHERE state = 'sending' AND claimed_by = 'b'"),
            static_cast<int64_t>(from_b));
}

TEST_F(SharedStoreTest, ARestartRecoversOnlyItsOwnClaims) {
  commit("d1", 10);
  ASSERT_EQ(a_->claim_due(Channel::sms, kGateway, now_ms(), 4).size(), 4u);
  ASSERT_EQ(b_->claim_due(Channel::sms, kGateway, now_ms(), 6).size(), 6u);
  a_.reset();
  a_ = open("a", 2000);  // "a" restarts; "b" is alive and keeps its claims
  EXPECT_EQ(a_->recover_in_flight(now_ms(), 0), 4u);
  test::RawDb db(path_);
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM deliveries WHERE state = 'sending' AND claimed_by = 'b'"), 6);
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM deliveries WHERE state = 'retrying'"), 4);
}

TEST_F(SharedStoreTest, ClaimsOfAnInstanceWhoseLeaseRanOutAreTakenOver) {
  commit("d1", 10);
  ASSERT_EQ(b_->claim_due(Channel::sms, kGateway, now_ms(), 7).size(), 7u);
  // "b" is alive (its lease was renewed at open): nothing to take.
  EXPECT_EQ(a_->take_over(now_ms(), 1000), 0u);
  b_.reset();  // dies without a word; its lease (2 s) runs out
  std::this_thread::sleep_for(std::chrono::milliseconds(2300));
  a_->renew_lease(now_ms());
  const int64_t now = now_ms();
  EXPECT_EQ(a_->take_over(now, 1000), 7u);
  EXPECT_EQ(a_->take_over(now, 1000), 0u);  // once
  test::RawDb db(path_);
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM deliveries WHERE state = 'retrying' AND claimed_by = ''"), 7);
  EXPECT_EQ(db.scalar("SELECT MIN(next_attempt_ms) FROM deliveries WHERE state = 'retrying'"), now + 1000);
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM events WHERE source = 'takeover'"
                      " AND detail LIKE 'claimed by b, whose lease ran out; taken over by a%'"),
            7);
  // Due again after the grace: claimed by "a" now.
  EXPECT_EQ(a_->claim_due(Channel::sms, kGateway, now + 1000, 100).size(), 10u);
}

TEST_F(SharedStoreTest, ALiveInstanceNameCannotBeUsedTwice) {
  // Same host, but the holder is alive and not this process: the lease is "a"'s own.
  test::RawDb db(path_);
  ASSERT_EQ(db.exec("UPDATE instances SET pid = 1 WHERE name = 'a'"), SQLITE_OK);  // pid 1 is alive
  try {
    open("a", 2000);
    FAIL() << "a second live instance named a was accepted";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("uses the instance name 'a'"), std::string::npos) << e.what();
  }
  // A holder that is gone (its process ended) is this instance restarting.
  ASSERT_EQ(db.exec("UPDATE instances SET pid = 999999999 WHERE name = 'a'"), SQLITE_OK);
  EXPECT_NO_THROW(open("a", 2000));
}

TEST_F(SharedStoreTest, TheRateIsSharedThroughOneBucket) {
  // 50/s, holding at most 10: together the instances get the burst, then the refill.
  int64_t got = a_->take_rate_tokens("gw", 8, 50, 10) + b_->take_rate_tokens("gw", 8, 50, 10);
  EXPECT_GE(got, 10);
  EXPECT_LE(got, 11);  // a few ms of refill between the two
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1000)) {
    got += a_->take_rate_tokens("gw", 3, 50, 10) + b_->take_rate_tokens("gw", 3, 50, 10);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // 10 at first, then 50 in the second (less if this process was descheduled).
  EXPECT_GE(got, 45);
  EXPECT_LE(got, 66);
  // Another gateway has its own bucket.
  EXPECT_EQ(a_->take_rate_tokens("other", 5, 50, 10), 5);
}

TEST_F(SharedStoreTest, TheSameDirectiveTakenInByTwoInstancesAtOnceIsTakenInOnce) {
  std::vector<PlannedDelivery> ds;
  for (int i = 0; i < 3000; ++i)
    ds.push_back({"person", "p" + std::to_string(i), "N", Channel::sms, "+8491" + std::to_string(2000000 + i),
                  DeliveryState::queued, "", "", {}, 0, Purpose::directive, {}});
  IntakeOutcome ra, rb;
  std::thread t([&] { ra = a_->commit_directive(seed_, "{}", ds); });
  rb = b_->commit_directive(seed_, "{}", ds);
  t.join();
  EXPECT_TRUE(ra.created || rb.created);
  test::RawDb db(path_);
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM directives"), 1);
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM deliveries"), 3000);
  EXPECT_EQ(db.scalar("SELECT intake_complete FROM directives"), 1);
}

TEST_F(SharedStoreTest, AFollowUpFiresOnceWhicheverInstancesTryAtOnce) {
  commit("d1", 3);
  std::vector<PlannedDelivery> reminders;
  for (int i = 0; i < 3; ++i)
    reminders.push_back({"person", "p" + std::to_string(i), "N", Channel::sms, "+849120" + std::to_string(10000 + i),
                         DeliveryState::queued, "", "", {}, 0, Purpose::reminder, "reminder:0"});
  std::atomic<int> fired{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      Store& s = i % 2 ? *a_ : *b_;
      if (s.add_followup("d1", "reminder:0", reminders, now_ms())) ++fired;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(fired.load(), 1);
  test::RawDb db(path_);
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM deliveries WHERE purpose = 'reminder'"), 3);
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM ack_timers WHERE kind = 'reminder:0'"), 1);
}

TEST_F(SharedStoreTest, AnEscalationNamingHundredsIsAddedOnceWhateverItsLength) {
  // 600 missing names: a note of ~20 KB, far past PostgreSQL's index-row limit (~2.7 KB)
  // that a UNIQUE key over the note itself ran into.
  commit("d1", 1);
  std::string note = "chưa xác nhận:";
  for (int i = 0; i < 600; ++i) note += " Nguyễn Văn Người Số " + std::to_string(i) + ",";
  ASSERT_GT(note.size(), 15000u);
  std::vector<PlannedDelivery> escalation{{"person", "chanh-van-phong", "Chánh Văn phòng", Channel::sms,
                                           "+84912099999", DeliveryState::queued, "", "", {}, 0,
                                           Purpose::escalation, note}};
  ASSERT_TRUE(a_->add_followup("d1", "escalation", escalation, now_ms()));
  test::RawDb db(path_);
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM deliveries WHERE purpose = 'escalation'"), 1);
  EXPECT_EQ(db.scalar("SELECT octet_length(note) FROM deliveries WHERE purpose = 'escalation'"),
            static_cast<int64_t>(note.size()));  // kept whole
  // The same message to the same person again (another timer kind): still once.
  EXPECT_TRUE(b_->add_followup("d1", "escalation:again", escalation, now_ms()));
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM deliveries WHERE purpose = 'escalation'"), 1);
}

TEST_F(SharedStoreTest, AReceiptAtAnotherInstanceMovesTheDeliveryOnce) {
  commit("d1", 1);
  auto claimed = a_->claim_due(Channel::sms, kGateway, now_ms(), 1);
  ASSERT_EQ(claimed.size(), 1u);
  // The receipt reaches "b" while "a" records the gateway's answer: each sees the other's.
  auto row = b_->delivery_by_token(claimed[0].token);
  ASSERT_TRUE(row.has_value());
  TransitionRequest sent{DeliveryState::sent, Cause::gateway_accepted, "gateway:kannel-local", "", {}, {}, {}, {}};
  TransitionRequest delivered{DeliveryState::delivered, Cause::receipt, "receipt:kannel-local", "", {}, {}, {}, {}};
  std::thread t([&] { a_->transition(claimed[0].id, sent); });
  b_->transition(row->id, delivered);
  t.join();
  EXPECT_EQ(a_->delivery(claimed[0].id)->state, DeliveryState::delivered);
}

TEST_F(SharedStoreTest, TheFirstSecretKeptIsEveryInstancesSecret) {
  std::string ka, kb;
  std::thread t([&] { ka = a_->keep_first_gateway_state("acks", "link_secret", "secret-of-a"); });
  kb = b_->keep_first_gateway_state("acks", "link_secret", "secret-of-b");
  t.join();
  EXPECT_EQ(ka, kb);
  EXPECT_TRUE(ka == "secret-of-a" || ka == "secret-of-b") << ka;
  EXPECT_EQ(a_->gateway_state("acks").at("link_secret"), ka);
}

TEST_F(SharedStoreTest, ClaimsGivenBackAreOnlyThisInstancesOwn) {
  commit("d1", 2);
  auto mine = a_->claim_due(Channel::sms, kGateway, now_ms(), 1);
  auto theirs = b_->claim_due(Channel::sms, kGateway, now_ms(), 1);
  ASSERT_EQ(mine.size(), 1u);
  ASSERT_EQ(theirs.size(), 1u);
  // "a" gives back both ids (say, a delivery taken over and claimed again by "b"): only
  // its own changes.
  EXPECT_EQ(a_->release_unsent({mine[0].id, theirs[0].id}, now_ms()), 1u);
  EXPECT_EQ(a_->delivery(theirs[0].id)->state, DeliveryState::sending);
}

TEST_F(SharedStoreTest, AStoreFromANewerHeralddIsRefused) {
  test::RawDb db(path_);
  ASSERT_EQ(db.scalar("SELECT MAX(version) FROM herald_schema"), static_cast<int64_t>(migrations::kPostgres.size()));
  ASSERT_EQ(db.exec("UPDATE herald_schema SET version = 99"), SQLITE_OK);
  try {
    open("c", 2000);
    FAIL() << "a newer schema was accepted";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("newer than this heraldd knows"), std::string::npos) << e.what();
  }
}

TEST_F(SharedStoreTest, AnUnreachableServerIsAnUnavailableStore) {
  try {
    open_postgres_store("host=127.0.0.1 port=1 connect_timeout=2", {"x", 2000});
    FAIL() << "connected to nothing";
  } catch (const StoreError& e) {
    EXPECT_TRUE(e.unavailable()) << e.what();
  }
}

}  // namespace
}  // namespace herald
