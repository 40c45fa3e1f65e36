// intake: one body in, one decision out, against a real SQLite store; metrics follow.
#include "intake/intake.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "raw_db.hpp"
#include "support.hpp"

namespace json = boost::json;

namespace herald {
namespace {

class IntakeTest : public ::testing::Test {
 protected:
  IntakeTest()
      : dir_(test::example_directory()),
        config_(test::config_with(dir_)),
        store_(test::open_store(tmp_.file("herald.db"), "unit", 200)),
        intake_(*store_, [this] { return dir_; }, config_, metrics_) {}

  static std::string seed_with(const std::string& key, json::value v) {
    json::object o = json::parse(test::seed_json()).as_object();
    o[key] = std::move(v);
    return json::serialize(o);
  }

  test::TempDir tmp_;
  std::shared_ptr<const Directory> dir_;
  Config config_;
  std::unique_ptr<Store> store_;
  Metrics metrics_;
  Intake intake_;
};

TEST_F(IntakeTest, CommitsANewDirective) {
  IntakeResult r = intake_.take(test::seed_json());
  EXPECT_EQ(r.kind, IntakeResult::Kind::committed);
  EXPECT_EQ(r.id, test::kSeedId);
  EXPECT_EQ(r.deliveries, 92u);
  EXPECT_EQ(r.reason, "");
  EXPECT_EQ(metrics_.directives_received, 1u);
  EXPECT_EQ(metrics_.directives_created, 1u);
  EXPECT_EQ(metrics_.deliveries_planned, 92u);
  EXPECT_EQ(metrics_.directives_duplicate, 0u);
  EXPECT_EQ(store_->directive_count(), 1);
  EXPECT_EQ(store_->deliveries(test::kSeedId).size(), 92u);
}

TEST_F(IntakeTest, SameIdAgainIsADuplicateAndAddsNothing) {
  ASSERT_EQ(intake_.take(test::seed_json()).kind, IntakeResult::Kind::committed);
  IntakeResult again = intake_.take(test::seed_json());
  EXPECT_EQ(again.kind, IntakeResult::Kind::duplicate);
  EXPECT_EQ(again.id, test::kSeedId);
  EXPECT_EQ(again.deliveries, 0u);
  // Changed content under the same id: still a duplicate; the first version stands.
  IntakeResult changed = intake_.take(seed_with("subject", "Nội dung khác"));
  EXPECT_EQ(changed.kind, IntakeResult::Kind::duplicate);
  EXPECT_EQ(store_->directive(test::kSeedId)->summary.subject.rfind("V/v tăng cường", 0), 0u);

  EXPECT_EQ(metrics_.directives_received, 3u);
  EXPECT_EQ(metrics_.directives_created, 1u);
  EXPECT_EQ(metrics_.directives_duplicate, 2u);
  EXPECT_EQ(metrics_.deliveries_planned, 92u);
  EXPECT_EQ(store_->deliveries(test::kSeedId).size(), 92u);
}

TEST_F(IntakeTest, InvalidDirectiveIsRejectedWithTheReason) {
  IntakeResult r = intake_.take(seed_with("urgency", "gap"));
  EXPECT_EQ(r.kind, IntakeResult::Kind::rejected);
  EXPECT_EQ(r.id, test::kSeedId);  // known, for the dead-letter log
  EXPECT_EQ(r.reason,
            "invalid directive: urgency: \"gap\" is not one of normal, khan, thuong_khan, hoa_toc");

  IntakeResult garbage = intake_.take("not json");
  EXPECT_EQ(garbage.kind, IntakeResult::Kind::rejected);
  EXPECT_EQ(garbage.id, "");
  EXPECT_EQ(garbage.reason.rfind("invalid directive: not valid JSON: ", 0), 0u) << garbage.reason;

  EXPECT_EQ(metrics_.directives_received, 2u);
  EXPECT_EQ(metrics_.directives_rejected_invalid, 2u);
  EXPECT_EQ(metrics_.directives_rejected_unresolved, 0u);
  EXPECT_EQ(metrics_.directives_created, 0u);
  EXPECT_EQ(store_->directive_count(), 0);
}

TEST_F(IntakeTest, UnresolvedRecipientsAreRejectedWithPaths) {
  json::array recipients{json::object{{"group", "ubnd-xa-thi-tran"}},
                         json::object{{"group", "ubnd-xa-khong-co"}},
                         json::object{{"person", "ong-ba-bi"}}};
  IntakeResult r = intake_.take(seed_with("recipients", recipients));
  EXPECT_EQ(r.kind, IntakeResult::Kind::rejected);
  EXPECT_EQ(r.id, test::kSeedId);
  EXPECT_EQ(r.reason,
            "unresolved recipients: recipients[1].group: unknown group \"ubnd-xa-khong-co\"; "
            "recipients[2].person: unknown person \"ong-ba-bi\"");
  EXPECT_EQ(metrics_.directives_rejected_unresolved, 1u);
  EXPECT_EQ(metrics_.directives_rejected_invalid, 0u);
  EXPECT_EQ(store_->directive_count(), 0);
  // Nothing was taken in, so the corrected directive is new.
  EXPECT_EQ(intake_.take(test::seed_json()).kind, IntakeResult::Kind::committed);
}

TEST_F(IntakeTest, LockedStoreMeansRetryNotAck) {
  if (test::postgres_mode()) GTEST_SKIP() << "SQLite's write lock (PostgreSQL locks rows, not the store)";
  test::RawDb other(tmp_.file("herald.db"));
  ASSERT_EQ(other.exec("BEGIN IMMEDIATE"), SQLITE_OK);  // another writer holds the lock
  IntakeResult r = intake_.take(test::seed_json());
  EXPECT_EQ(r.kind, IntakeResult::Kind::retry);
  EXPECT_EQ(r.id, test::kSeedId);
  EXPECT_NE(r.reason.find("database is locked"), std::string::npos) << r.reason;
  EXPECT_EQ(metrics_.store_errors, 1u);
  EXPECT_EQ(metrics_.directives_created, 0u);
  ASSERT_EQ(other.exec("ROLLBACK"), SQLITE_OK);

  IntakeResult later = intake_.take(test::seed_json());
  EXPECT_EQ(later.kind, IntakeResult::Kind::committed);
  EXPECT_EQ(later.deliveries, 92u);
}

}  // namespace
}  // namespace herald
