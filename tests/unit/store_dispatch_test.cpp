// store (SQLite), the dispatcher's side: claiming due deliveries by urgency and due time,
// transitions with their error fields and events, and the restart rule for sends left
// in flight (docs/dispatch.md).
#include <algorithm>
#include <map>

#include <gtest/gtest.h>

#include "core/time.hpp"
#include "store/store.hpp"
#include "support.hpp"

namespace herald {
namespace {

using S = DeliveryState;
constexpr const char* kGateway = "kannel-local";

class StoreDispatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto parsed = parse_directive(test::seed_json());
    ASSERT_TRUE(parsed.directive) << parsed.summary();
    seed_ = *parsed.directive;
    store_ = test::open_store(tmp_.file("herald.db"));
  }

  static PlannedDelivery planned(const std::string& who, Channel channel = Channel::sms,
                                 S state = S::queued) {
    return {"person", who, "Người " + who, channel, "+8491200" + std::to_string(1000 + who.size()),
            state, state == S::failed ? "no_contact" : "", state == S::failed ? "no contact" : "", {}, 0, Purpose::directive, {}};
  }

  /// Commits directive `id` with `urgency` and one delivery per entry of `who`.
  void commit(const std::string& id, Urgency urgency, const std::vector<PlannedDelivery>& deliveries) {
    Directive d = seed_;
    d.id = id;
    d.urgency = urgency;
    ASSERT_TRUE(store_->commit_directive(d, "{}", deliveries).created);
    for (const auto& r : store_->deliveries(id)) ids_[r.recipient_id + "/" + std::string(to_string(r.channel))] = r.id;
  }

  int64_t id(const std::string& who, Channel channel = Channel::sms) {
    auto it = ids_.find(who + "/" + std::string(to_string(channel)));
    EXPECT_NE(it, ids_.end()) << who;
    return it == ids_.end() ? 0 : it->second;
  }

  std::vector<std::string> claim(int64_t now, size_t limit = 100) {
    std::vector<std::string> who;
    for (const auto& c : store_->claim_due(Channel::sms, kGateway, now, limit)) who.push_back(c.recipient_id);
    return who;
  }

  DeliveryRow row(int64_t delivery_id) {
    auto r = store_->delivery(delivery_id);
    EXPECT_TRUE(r.has_value()) << delivery_id;
    return r.value_or(DeliveryRow{});
  }

  std::vector<EventRow> events_of(int64_t delivery_id) {
    const std::string directive = row(delivery_id).directive_id;
    std::vector<EventRow> out;
    for (auto& e : store_->events(directive))
      if (e.delivery_id == delivery_id) out.push_back(std::move(e));
    return out;
  }

  // The dispatcher's requests, as dispatcher.cpp makes them.
  TransitionResult retry(int64_t delivery_id, int64_t next_attempt_ms, std::string code = "connect_7",
                         std::string text = "Couldn't connect to server") {
    return store_->transition(delivery_id, {S::retrying, Cause::gateway_retry, "gateway:kannel-local",
                                            "connection_failed, retry in 100 ms", std::move(code),
                                            std::move(text), {}, next_attempt_ms});
  }
  TransitionResult accepted(int64_t delivery_id, std::optional<std::string> ref = std::nullopt) {
    return store_->transition(delivery_id, {S::sent, Cause::gateway_accepted, "gateway:kannel-local",
                                            "accepted", std::string(), {}, std::move(ref), {}});
  }
  TransitionResult receipt(int64_t delivery_id, S to, const std::string& status) {
    TransitionRequest t;
    t.to = to;
    t.cause = Cause::receipt;
    t.source = "receipt:kannel-local";
    t.detail = "status " + status;
    return store_->transition(delivery_id, t);
  }

  test::TempDir tmp_;
  Directive seed_;
  std::unique_ptr<Store> store_;
  std::map<std::string, int64_t> ids_;
};

TEST_F(StoreDispatchTest, ClaimTakesHigherUrgencyFirstAndOnlyWaitingSmsDeliveries) {
  commit("test/normal", Urgency::normal,
         {planned("n1"), planned("n2"), planned("n3"), planned("n-zalo", Channel::zalo),
          planned("n-failed", Channel::sms, S::failed)});
  commit("test/hoa-toc", Urgency::hoa_toc, {planned("h1"), planned("h2")});
  commit("test/khan", Urgency::khan, {planned("k1")});
  const int64_t now = now_ms() + 1000;

  EXPECT_EQ(claim(now, 2), (std::vector<std::string>{"h1", "h2"}));
  auto rest = store_->claim_due(Channel::sms, kGateway, now, 100);
  std::vector<std::string> who;
  for (const auto& c : rest) who.push_back(c.recipient_id);
  EXPECT_EQ(who, (std::vector<std::string>{"k1", "n1", "n2", "n3"}));
  EXPECT_TRUE(claim(now).empty());

  ASSERT_EQ(rest.size(), 4u);
  const ClaimedDelivery& k1 = rest[0];
  EXPECT_EQ(k1.id, id("k1"));
  EXPECT_EQ(k1.directive_id, "test/khan");
  EXPECT_EQ(k1.channel, Channel::sms);
  EXPECT_EQ(k1.address, row(id("k1")).address);
  EXPECT_EQ(k1.attempts, 1);
  EXPECT_EQ(k1.token.size(), 32u);

  for (const char* w : {"h1", "h2", "k1", "n1", "n2", "n3"}) {
    DeliveryRow r = row(id(w));
    EXPECT_EQ(r.state, S::sending) << w;
    EXPECT_EQ(r.attempts, 1) << w;
    EXPECT_EQ(r.gateway, kGateway) << w;
    EXPECT_EQ(r.updated_at_ms, now) << w;
  }
  EXPECT_EQ(row(id("n-zalo", Channel::zalo)).state, S::queued);
  EXPECT_EQ(row(id("n-zalo", Channel::zalo)).attempts, 0);
  EXPECT_EQ(row(id("n-failed")).state, S::failed);
  EXPECT_EQ(row(id("n-failed")).attempts, 0);

  auto ev = events_of(id("h1"));
  ASSERT_EQ(ev.size(), 2u);  // intake, then the claim
  EXPECT_EQ(ev[1].from_state, "queued");
  EXPECT_EQ(ev[1].to_state, "sending");
  EXPECT_EQ(ev[1].source, "dispatcher");
  EXPECT_EQ(ev[1].detail, "attempt 1 via kannel-local");
  EXPECT_EQ(ev[1].at_ms, now);
}

TEST_F(StoreDispatchTest, ClaimRespectsDueTimesThenOrdersByThem) {
  commit("test/normal", Urgency::normal, {planned("a"), planned("b"), planned("c")});
  commit("test/hoa-toc", Urgency::hoa_toc, {planned("h")});
  const int64_t t0 = now_ms() + 1000;
  ASSERT_EQ(claim(t0).size(), 4u);
  ASSERT_TRUE(retry(id("a"), t0 + 200).applied);
  ASSERT_TRUE(retry(id("b"), t0 + 100).applied);
  ASSERT_TRUE(retry(id("c"), t0 + 10'000'000).applied);
  ASSERT_TRUE(retry(id("h"), t0 + 300).applied);
  commit("test/later", Urgency::normal, {planned("q")});  // queued, due since its intake

  EXPECT_EQ(store_->next_due_ms(Channel::sms), row(id("q")).next_attempt_ms);
  EXPECT_LE(row(id("q")).next_attempt_ms, t0);
  EXPECT_EQ(claim(t0 + 250), (std::vector<std::string>{"q", "b", "a"}));
  EXPECT_EQ(store_->next_due_ms(Channel::sms), t0 + 300);
  EXPECT_TRUE(claim(t0 + 299).empty());

  auto h = store_->claim_due(Channel::sms, kGateway, t0 + 300, 10);
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].recipient_id, "h");
  EXPECT_EQ(h[0].attempts, 2);
  EXPECT_EQ(row(id("h")).attempts, 2);
  auto ev = events_of(id("h"));
  ASSERT_EQ(ev.size(), 4u);  // intake, claim, retry, claim
  EXPECT_EQ(ev[3].from_state, "retrying");
  EXPECT_EQ(ev[3].to_state, "sending");
  EXPECT_EQ(ev[3].detail, "attempt 2 via kannel-local");

  EXPECT_EQ(store_->next_due_ms(Channel::sms), t0 + 10'000'000);
  EXPECT_EQ(claim(t0 + 10'000'000), (std::vector<std::string>{"c"}));
  EXPECT_EQ(store_->next_due_ms(Channel::sms), std::nullopt);
  EXPECT_EQ(store_->next_due_ms(Channel::zalo), std::nullopt);
}

TEST_F(StoreDispatchTest, UrgencyComesBeforeStateAndDueTime) {
  // A hỏa tốc retry due later still goes before a normal delivery queued earlier.
  commit("test/hoa-toc", Urgency::hoa_toc, {planned("h")});
  const int64_t t0 = now_ms() + 1000;
  ASSERT_EQ(claim(t0), (std::vector<std::string>{"h"}));
  ASSERT_TRUE(retry(id("h"), t0 + 500).applied);
  commit("test/normal", Urgency::normal, {planned("n")});
  commit("test/thuong-khan", Urgency::thuong_khan, {planned("t")});
  EXPECT_EQ(claim(t0 + 500), (std::vector<std::string>{"h", "t", "n"}));
}

TEST_F(StoreDispatchTest, TransitionKeepsErrorsAndAcceptedClearsThem) {
  commit("test/normal", Urgency::normal, {planned("a")});
  const int64_t t0 = now_ms() + 1000;
  const int64_t a = id("a");
  ASSERT_EQ(claim(t0).size(), 1u);

  TransitionResult r = retry(a, t0 + 100);
  EXPECT_TRUE(r.found);
  EXPECT_TRUE(r.applied);
  EXPECT_EQ(r.from, S::sending);
  EXPECT_EQ(r.state, S::retrying);
  DeliveryRow row1 = row(a);
  EXPECT_EQ(row1.state, S::retrying);
  EXPECT_EQ(row1.error_code, "connect_7");
  EXPECT_EQ(row1.error_text, "Couldn't connect to server");
  EXPECT_EQ(row1.next_attempt_ms, t0 + 100);
  auto ev = events_of(a);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[2].from_state, "sending");
  EXPECT_EQ(ev[2].to_state, "retrying");
  EXPECT_EQ(ev[2].source, "gateway:kannel-local");
  EXPECT_EQ(ev[2].detail, "connection_failed, retry in 100 ms; connect_7: Couldn't connect to server");

  ASSERT_EQ(claim(t0 + 100).size(), 1u);
  EXPECT_EQ(row(a).error_code, "connect_7");  // the claim does not touch the last error
  r = accepted(a, "ref-1");
  EXPECT_TRUE(r.applied);
  DeliveryRow row2 = row(a);
  EXPECT_EQ(row2.state, S::sent);
  EXPECT_EQ(row2.attempts, 2);
  EXPECT_EQ(row2.error_code, "");
  EXPECT_EQ(row2.error_text, "");
  EXPECT_EQ(row2.provider_ref, "ref-1");
  EXPECT_EQ(row2.next_attempt_ms, t0 + 100);
  ev = events_of(a);
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_EQ(ev[4].to_state, "sent");
  EXPECT_EQ(ev[4].detail, "accepted");  // an error cleared is not an error to report

  // Not allowed: no state change, no error written, still an event.
  r = store_->transition(a, {S::failed, Cause::gateway_failed, "gateway:kannel-local", "rejected_number",
                             std::string("kannel_denied"), "denied", std::string("ref-2"), {}});
  EXPECT_TRUE(r.found);
  EXPECT_FALSE(r.applied);
  EXPECT_EQ(r.from, S::sent);
  EXPECT_EQ(r.state, S::sent);
  DeliveryRow row3 = row(a);
  EXPECT_EQ(row3.state, S::sent);
  EXPECT_EQ(row3.error_code, "");
  EXPECT_EQ(row3.provider_ref, "ref-1");  // the first provider id stays
  ev = events_of(a);
  ASSERT_EQ(ev.size(), 6u);
  EXPECT_EQ(ev[5].from_state, "sent");
  EXPECT_EQ(ev[5].to_state, "sent");
  EXPECT_EQ(ev[5].detail, "rejected_number; kannel_denied: denied; no change (failed after sent)");

  // A failure receipt sets the error fields.
  TransitionRequest t{S::failed, Cause::receipt, "receipt:kannel-local", "status 16",
                      std::string("kannel_dlr_16"), "rejected by SMSC", {}, {}};
  r = store_->transition(a, t);
  EXPECT_TRUE(r.applied);
  EXPECT_EQ(row(a).state, S::failed);
  EXPECT_EQ(row(a).error_code, "kannel_dlr_16");
  EXPECT_EQ(row(a).error_text, "rejected by SMSC");

  r = store_->transition(999999, t);
  EXPECT_FALSE(r.found);
  EXPECT_FALSE(r.applied);
  EXPECT_EQ(events_of(a).size(), 7u);
}

TEST_F(StoreDispatchTest, RecoveryRetriesWhatWasInFlightAfterTheGrace) {
  commit("test/normal", Urgency::normal, {planned("a"), planned("b"), planned("c"), planned("d")});
  const int64_t t0 = now_ms() + 1000;
  ASSERT_EQ(claim(t0, 3), (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_TRUE(accepted(id("c")).applied);  // c's answer was recorded before the crash

  const int64_t restart = t0 + 5000;
  EXPECT_EQ(store_->recover_in_flight(restart, 30000), 2u);
  for (const char* w : {"a", "b"}) {
    DeliveryRow r = row(id(w));
    EXPECT_EQ(r.state, S::retrying) << w;
    EXPECT_EQ(r.next_attempt_ms, restart + 30000) << w;
    EXPECT_EQ(r.updated_at_ms, restart) << w;
    EXPECT_EQ(r.attempts, 1) << w;
    auto ev = events_of(id(w));
    ASSERT_EQ(ev.size(), 3u) << w;
    EXPECT_EQ(ev[2].from_state, "sending");
    EXPECT_EQ(ev[2].to_state, "retrying");
    EXPECT_EQ(ev[2].source, "recovery");
    EXPECT_EQ(ev[2].detail, "in flight at restart; resend after 30000 ms unless a receipt settles it");
    EXPECT_EQ(ev[2].at_ms, restart);
  }
  EXPECT_EQ(row(id("c")).state, S::sent);
  EXPECT_EQ(row(id("d")).state, S::queued);
  EXPECT_EQ(events_of(id("c")).size(), 3u);
  EXPECT_EQ(events_of(id("d")).size(), 1u);
  EXPECT_EQ(store_->recover_in_flight(restart, 30000), 0u);  // nothing is in flight now

  // During the grace, a's receipt arrives: it had left; it is never sent again.
  TransitionResult r = receipt(id("a"), S::delivered, "1");
  EXPECT_TRUE(r.applied);
  EXPECT_EQ(r.from, S::retrying);
  EXPECT_EQ(row(id("a")).state, S::delivered);

  EXPECT_EQ(claim(restart + 29999), (std::vector<std::string>{"d"}));
  auto resent = store_->claim_due(Channel::sms, kGateway, restart + 30000, 10);
  ASSERT_EQ(resent.size(), 1u);
  EXPECT_EQ(resent[0].recipient_id, "b");
  EXPECT_EQ(resent[0].attempts, 2);
}

TEST_F(StoreDispatchTest, ClaimsNotSentAtAStopAreDueAgainAtOnce) {
  commit("test/normal", Urgency::normal, {planned("a"), planned("b"), planned("c")});
  const int64_t t0 = now_ms() + 1000;
  ASSERT_EQ(claim(t0, 3), (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_TRUE(accepted(id("a")).applied);  // a was sent; b and c were only claimed
  const int64_t stop = t0 + 10;
  // a is no longer `sending`: it is left alone even when named.
  EXPECT_EQ(store_->release_unsent({id("a"), id("b"), id("c")}, stop), 2u);
  EXPECT_EQ(row(id("a")).state, S::sent);
  for (const char* w : {"b", "c"}) {
    DeliveryRow r = row(id(w));
    EXPECT_EQ(r.state, S::retrying) << w;
    EXPECT_EQ(r.attempts, 0) << w;  // the claim's attempt is given back
    EXPECT_EQ(r.next_attempt_ms, stop) << w;
    auto ev = events_of(id(w));
    ASSERT_EQ(ev.size(), 3u) << w;
    EXPECT_EQ(ev[2].from_state, "sending");
    EXPECT_EQ(ev[2].to_state, "retrying");
    EXPECT_EQ(ev[2].detail, "claimed but not sent before shutdown; due again");
  }
  // Nothing in flight is left for the restart rule, and they are claimed first thing.
  EXPECT_EQ(store_->recover_in_flight(stop + 1, 30000), 0u);
  auto again = store_->claim_due(Channel::sms, kGateway, stop, 10);
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].attempts, 1);
}

TEST_F(StoreDispatchTest, ReceiptTokensMatchOnlyWhole) {
  commit("test/normal", Urgency::normal, {planned("a"), planned("b")});
  auto claimed = store_->claim_due(Channel::sms, kGateway, now_ms() + 1000, 2);
  ASSERT_EQ(claimed.size(), 2u);
  const ClaimedDelivery& a = claimed[0];
  ASSERT_EQ(a.token.size(), 32u);
  auto found = store_->delivery_by_token(a.token);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, a.id);
  EXPECT_EQ(store_->delivery_by_token(claimed[1].token)->id, claimed[1].id);
  // The selector (first half) alone, or with a wrong second half, finds nothing.
  std::string forged = a.token;
  forged.back() = forged.back() == '0' ? '1' : '0';
  EXPECT_FALSE(store_->delivery_by_token(forged).has_value());
  EXPECT_FALSE(store_->delivery_by_token(a.token.substr(0, 16)).has_value());
  EXPECT_FALSE(store_->delivery_by_token(a.token + "0").has_value());
  EXPECT_FALSE(store_->delivery_by_token(a.token.substr(0, 15)).has_value());
  EXPECT_FALSE(store_->delivery_by_token("").has_value());
}

}  // namespace
}  // namespace herald
