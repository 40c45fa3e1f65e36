// Acknowledgements in the store and around it: codes unique among open directives, a
// reply placed (or not) and recorded, acknowledging stops what has not left yet,
// reminders reach only those who have not acknowledged and escalation their superiors,
// each once; an escalation carries none of a confidential directive's content.
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "acks/followups.hpp"
#include "acks/inbox.hpp"
#include "settings/yaml_reader.hpp"
#include "core/time.hpp"
#include "planner/planner.hpp"
#include "render/followup.hpp"
#include "store/store.hpp"
#include "support.hpp"

namespace herald {
namespace {

using S = DeliveryState;

constexpr const char* kDirectory = R"(groups:
  - id: xa
    name: "UBND các xã"
people:
  - id: truong
    name: "Trưởng ban"
    contacts: {phone: "0912 000 400", email: "tb@ban.example"}
    channels: [email]
  - id: a
    name: "Nguyễn Văn A"
    groups: [xa]
    contacts: {phone: "0912 000 401", zalo_user_id: "1000000000000401"}
    channels: [sms, zalo]
    superior: truong
  - id: b
    name: "Trần Thị B"
    groups: [xa]
    contacts: {phone: "0912 000 402"}
    channels: [sms]
    superior: truong
  - id: c
    name: "Lê Văn C"
    groups: [xa]
    contacts: {phone: "0912 000 403"}
    channels: [sms]
)";

class Acks : public ::testing::Test {
 protected:
  void SetUp() override {
    Diagnostics d("dir.yaml");
    auto root = load_yaml_string(kDirectory, d);
    ASSERT_TRUE(root.has_value());
    auto dir = Directory::from_yaml(*root, d);
    ASSERT_TRUE(dir.has_value());
    dir_ = std::make_shared<const Directory>(std::move(*dir));
    cfg_ = test::config_with(dir_);
  }

  Directive commit(const std::string& id, const std::string& number, int64_t deadline_ms) {
    Directive d = *parse_directive(test::seed_json()).directive;
    d.id = id;
    d.number = number;
    d.channels = {Channel::sms};
    d.recipients = {{RecipientRef::Kind::group, "xa"}};
    d.ack_required = true;
    d.ack_deadline_ms = deadline_ms;
    d.ack_deadline = "2099-01-01T00:00:00+07:00";
    store_->commit_directive(d, "{}", plan_deliveries(d, *dir_, cfg_).deliveries);
    return d;
  }

  // Marks every delivery of `id` sent, as the dispatcher would.
  void send_all(const std::string& id) {
    for (const auto& r : store_->deliveries(id)) {
      store_->transition(r.id, {S::sending, Cause::send_started, "t", {}, {}, {}, {}, {}});
      store_->transition(r.id, {S::sent, Cause::gateway_accepted, "t", {}, {}, {}, {}, {}});
    }
  }

  std::string code(const std::string& id) { return store_->directive(id)->summary.ack_code; }

  test::TempDir tmp_;
  std::unique_ptr<Store> store_ = test::open_store(tmp_.file("herald.db"));
  std::shared_ptr<const Directory> dir_;
  Config cfg_;
  const int64_t now_ = now_ms();
};

TEST_F(Acks, CodesAreUniqueAmongOpenDirectives) {
  commit("x/158-a", "158-CV/HU", now_ + 3'600'000);
  commit("x/158-b", "158-CV/HU", now_ + 3'600'000);
  commit("x/160", "160-TB/HU", now_ + 3'600'000);
  EXPECT_EQ(code("x/158-a"), "158");
  EXPECT_EQ(code("x/158-b"), "158a");
  EXPECT_EQ(code("x/160"), "160");
  // A cancelled directive's code is free again.
  store_->cancel_directive("x/160", "office", "", now_);
  commit("x/160-new", "160-TB/HU", now_ + 3'600'000);
  EXPECT_EQ(code("x/160-new"), "160");
}

TEST_F(Acks, AReplyIsPlacedByCodeOrAsTheOnlyOpenOneAndAlwaysRecorded) {
  commit("x/158", "158-CV/HU", now_ + 3'600'000);
  send_all("x/158");
  // Unknown number: recorded, nothing acknowledged.
  auto out = acks::take_reply(*store_, *dir_, Channel::sms, "+84912999888", "OK 158", now_);
  EXPECT_EQ(out.outcome, "unknown_sender");
  // No code, one open directive: that one.
  out = acks::take_reply(*store_, *dir_, Channel::sms, "84912000401", "da nhan", now_);
  EXPECT_EQ(out.outcome, "acknowledged");
  EXPECT_EQ(out.directive_id, "x/158");
  EXPECT_TRUE(out.answer.empty());
  // Twice: nothing is open for A any more; recorded, answered that nothing awaits.
  out = acks::take_reply(*store_, *dir_, Channel::sms, "0912000401", "OK 158", now_);
  EXPECT_EQ(out.outcome, "none_open");
  EXPECT_FALSE(out.answer.empty());

  commit("x/160", "160-TB/HU", now_ + 3'600'000);
  send_all("x/160");
  // B has two open directives: "ok" alone is ambiguous and answered with help.
  out = acks::take_reply(*store_, *dir_, Channel::sms, "+84912000402", "ok", now_);
  EXPECT_EQ(out.outcome, "ambiguous");
  EXPECT_NE(out.answer.find("158"), std::string::npos) << out.answer;
  EXPECT_NE(out.answer.find("160"), std::string::npos) << out.answer;
  out = acks::take_reply(*store_, *dir_, Channel::sms, "+84912000402", "OK 999", now_);
  EXPECT_EQ(out.outcome, "unknown_code");
  EXPECT_FALSE(out.answer.empty());
  out = acks::take_reply(*store_, *dir_, Channel::sms, "+84912000402", "XN 160", now_);
  EXPECT_EQ(out.outcome, "acknowledged");
  EXPECT_EQ(out.directive_id, "x/160");
  // A Zalo reply names its sender by user id.
  out = acks::take_reply(*store_, *dir_, Channel::zalo, "1000000000000401", "Đã nhận 160", now_);
  EXPECT_EQ(out.outcome, "acknowledged");

  auto replies = store_->replies(10);
  ASSERT_EQ(replies.size(), 7u);
  EXPECT_EQ(replies.back().outcome, "unknown_sender");
  EXPECT_EQ(replies.back().recipient_id, "");
  std::map<std::string, bool> acked;
  for (const auto& r : store_->ack_status("x/158")) acked[r.recipient_id] = r.acknowledged;
  EXPECT_EQ(acked, (std::map<std::string, bool>{{"a", true}, {"b", false}, {"c", false}}));
}

TEST_F(Acks, AcknowledgingStopsWhatHasNotLeft) {
  commit("x/158", "158-CV/HU", now_ + 3'600'000);
  auto rows = store_->deliveries("x/158");
  // A's SMS went out; a reminder is still queued.
  int64_t sms = 0;
  for (const auto& r : rows)
    if (r.recipient_id == "a") sms = r.id;
  store_->transition(sms, {S::sending, Cause::send_started, "t", {}, {}, {}, {}, {}});
  store_->transition(sms, {S::sent, Cause::gateway_accepted, "t", {}, {}, {}, {}, {}});
  PlannedDelivery reminder{"person", "a", "Nguyễn Văn A", Channel::sms, "+84912000401", S::queued, {}, {}, {}, 0,
                           Purpose::reminder, "reminder:0"};
  ASSERT_TRUE(store_->add_followup("x/158", "reminder:0", {reminder}, now_));
  EXPECT_FALSE(store_->add_followup("x/158", "reminder:0", {reminder}, now_));  // once only
  AckOutcome a = store_->acknowledge("x/158", "a", Channel::sms, "OK 158", "reply:sms", now_);
  EXPECT_TRUE(a.found);
  EXPECT_EQ(a.acknowledged, 1u);
  EXPECT_EQ(a.held_back, 1u);
  for (const auto& r : store_->deliveries("x/158"))
    if (r.recipient_id == "a") {
      EXPECT_EQ(r.state, r.id == sms ? S::acknowledged : S::cancelled);
    }
  EXPECT_TRUE(store_->acknowledge("x/158", "a", Channel::sms, "OK", "reply:sms", now_).already);
  EXPECT_FALSE(store_->acknowledge("x/158", "truong", Channel::sms, "OK", "reply:sms", now_).found);
  EXPECT_TRUE(store_->open_acks("a", now_).empty());
  EXPECT_EQ(store_->open_acks("b", now_).size(), 1u);
}

TEST_F(Acks, RemindersThenEscalationOnlyForThoseWhoHaveNotAcknowledged) {
  const int64_t deadline = now_ + 3'600'000;
  commit("x/158", "158-CV/HU", deadline);
  send_all("x/158");
  store_->acknowledge("x/158", "c", Channel::sms, "OK 158", "reply:sms", now_);
  AcksConfig cfg;  // default: one reminder 2 h before, escalation to the superior at the deadline
  cfg.policy.fill(AckPolicy{{30 * 60'000}, 0, true, false});
  // Too early: nothing.
  EXPECT_EQ(acks::run_followups(*store_, *dir_, cfg, now_), 0u);
  // 30 minutes before: a reminder to A and B, not to C.
  EXPECT_EQ(acks::run_followups(*store_, *dir_, cfg, deadline - 20 * 60'000), 2u);
  EXPECT_EQ(acks::run_followups(*store_, *dir_, cfg, deadline - 10 * 60'000), 0u);  // once
  std::set<std::string> reminded, escalated;
  for (const auto& r : store_->deliveries("x/158")) {
    if (r.state == S::queued && r.recipient_id != "truong") reminded.insert(r.recipient_id);
  }
  EXPECT_EQ(reminded, (std::set<std::string>{"a", "b"}));
  // B acknowledges; at the deadline only A's superior hears about A.
  store_->acknowledge("x/158", "b", Channel::sms, "OK 158", "reply:sms", now_);
  EXPECT_EQ(acks::run_followups(*store_, *dir_, cfg, deadline + 1), 1u);
  EXPECT_EQ(acks::run_followups(*store_, *dir_, cfg, deadline + 60'000), 0u);
  bool found = false;
  for (const auto& r : store_->deliveries("x/158"))
    if (r.recipient_id == "truong") {
      found = true;
      EXPECT_EQ(r.channel, Channel::email);  // the superior's own channel
      EXPECT_EQ(r.address, "tb@ban.example");
    }
  EXPECT_TRUE(found);
  EXPECT_TRUE(store_->ack_watches(deadline + 60'000).empty());  // done with it
}

TEST(Followup, EscalationCarriesNoConfidentialContent) {
  Directive d = *parse_directive(test::seed_json()).directive;
  d.confidentiality = Confidentiality::mat;
  d.ack_code = "158";
  Directive e = followup_view(d, Purpose::escalation, "Nguyễn Văn A, Trần Thị B");
  EXPECT_FALSE(e.confidential());
  EXPECT_FALSE(e.ack_required);
  EXPECT_EQ(e.subject.find("Covid"), std::string::npos);
  EXPECT_EQ(e.body.find("Covid"), std::string::npos);
  EXPECT_NE(e.body.find("Nguyễn Văn A, Trần Thị B chưa xác nhận"), std::string::npos) << e.body;
  Directive r = followup_view(d, Purpose::reminder, "reminder:0");
  EXPECT_TRUE(r.confidential());  // rendered as the confidential notice, as the directive was
  EXPECT_EQ(r.ack_code, "158");
}

}  // namespace
}  // namespace herald
