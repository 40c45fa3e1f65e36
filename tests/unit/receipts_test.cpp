// receipts: one way to apply what any provider reports, against a fake of the store's
// receipts role: which delivery a receipt finds, what the store is asked to record, and
// what a repeat, a foreign gateway or an unknown token come to.
#include "receipts/receipts.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "settings/redact.hpp"

namespace herald {
namespace {

using S = DeliveryState;

/// The receipts role of a store, in memory: deliveries by id, what apply_receipt was asked.
class FakeReceiptStore : public ReceiptStore {
 public:
  struct Delivery {
    std::string token, gateway, provider_ref;
    S state = S::sending;
  };
  std::map<int64_t, Delivery> deliveries;
  std::vector<std::pair<int64_t, TransitionRequest>> applied;  // every call that wrote
  std::set<std::string> keys;

  std::optional<DeliveryRow> delivery_by_token(const std::string& token) override {
    for (const auto& [id, d] : deliveries)
      if (d.token == token) return row(id, d);
    return std::nullopt;
  }
  std::optional<DeliveryRow> delivery_by_provider_ref(const std::string& gateway, const std::string& ref) override {
    for (const auto& [id, d] : deliveries)
      if (d.gateway == gateway && !ref.empty() && d.provider_ref == ref) return row(id, d);
    return std::nullopt;
  }
  std::optional<TransitionResult> apply_receipt(int64_t id, const TransitionRequest& t, const std::string& once) override {
    if (!once.empty() && !keys.insert(once).second) return std::nullopt;
    applied.emplace_back(id, t);
    Delivery& d = deliveries.at(id);
    TransitionResult r;
    r.found = true;
    r.from = d.state;
    r.applied = transition_allowed(d.state, t.to, t.cause);
    if (r.applied) d.state = t.to;
    r.state = d.state;
    if (t.provider_ref && d.provider_ref.empty()) d.provider_ref = *t.provider_ref;
    return r;
  }

 private:
  static DeliveryRow row(int64_t id, const Delivery& d) {
    DeliveryRow r;
    r.id = id;
    r.gateway = d.gateway;
    r.provider_ref = d.provider_ref;
    r.state = d.state;
    return r;
  }
};

constexpr const char* kTokenA = "0123456789abcdef0123456789abcdef";
constexpr const char* kTokenB = "fedcba9876543210fedcba9876543210";

class ReceiptsTest : public ::testing::Test {
 protected:
  ReceiptsTest() {
    store_.deliveries[1] = {kTokenA, "kannel-local", "", S::sending};
    store_.deliveries[2] = {kTokenB, "zalo-zns", "zns-1", S::sent};
  }
  static Receipt from_token(const std::string& token, S state, std::string status) {
    Receipt r;
    r.token = token;
    r.state = state;
    r.status = std::move(status);
    return r;
  }
  FakeReceiptStore store_;
};

TEST_F(ReceiptsTest, ACallbackNamesItsDeliveryByTokenForItsGatewayOnly) {
  Receipt r = from_token(kTokenA, S::delivered, "1");
  r.detail = "delivered to phone";
  r.provider_ref = "kannel-77";
  auto o = receipts::apply(store_, r, {"kannel-local"});
  EXPECT_EQ(o.kind, receipts::Outcome::Kind::applied);
  EXPECT_EQ(o.delivery_id, 1);
  EXPECT_EQ(o.state, S::delivered);
  ASSERT_EQ(store_.applied.size(), 1u);
  const TransitionRequest& t = store_.applied[0].second;
  EXPECT_EQ(t.cause, Cause::receipt);
  EXPECT_EQ(t.source, "receipt:kannel-local");
  EXPECT_EQ(t.detail, "status 1 (delivered to phone)");
  ASSERT_TRUE(t.error_code.has_value());  // it got through: an earlier failure is cleared
  EXPECT_EQ(*t.error_code, "");
  EXPECT_EQ(t.provider_ref, std::optional<std::string>("kannel-77"));

  // The same token through another gateway's URL names nothing.
  EXPECT_EQ(receipts::apply(store_, r, {"kannel-backup"}).kind, receipts::Outcome::Kind::unknown);
  EXPECT_EQ(receipts::apply(store_, from_token("f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0", S::delivered, "1"),
                            {"kannel-local"}).kind,
            receipts::Outcome::Kind::unknown);
  EXPECT_EQ(store_.applied.size(), 1u);
}

TEST_F(ReceiptsTest, AFailureKeepsTheProvidersWordsAsTheError) {
  Receipt r = from_token(kTokenA, S::failed, "16");
  r.error_code = "kannel_dlr_16";
  r.detail = "rejected by SMSC";
  receipts::apply(store_, r, {"kannel-local"});
  Receipt bare = from_token(kTokenA, S::failed, "2");
  bare.error_code = "kannel_dlr_2";
  receipts::apply(store_, bare, {"kannel-local"});
  ASSERT_EQ(store_.applied.size(), 2u);
  EXPECT_EQ(store_.applied[0].second.error_code, std::optional<std::string>("kannel_dlr_16"));
  EXPECT_EQ(store_.applied[0].second.error_text, "rejected by SMSC");
  EXPECT_EQ(store_.applied[1].second.error_text, "provider status 2");
  EXPECT_EQ(store_.applied[1].second.detail, "status 2");
}

TEST_F(ReceiptsTest, AReceiptThatChangesNothingIsStillRecorded) {
  store_.deliveries[1].state = S::delivered;
  auto o = receipts::apply(store_, from_token(kTokenA, S::sent, "8"), {"kannel-local"});
  EXPECT_EQ(o.kind, receipts::Outcome::Kind::unchanged);
  EXPECT_EQ(o.state, S::delivered);  // never backwards
  EXPECT_EQ(store_.applied.size(), 1u);
}

TEST_F(ReceiptsTest, AWebhookNamesMessagesByProviderIdThenByTokenAmongItsGateways) {
  Receipt r;
  r.find_by_ref = true;
  r.provider_ref = "zns-1";
  r.state = S::read;
  r.status = "user_seen_message";
  r.event = "zalo user_seen_message msg_id zns-1";
  r.once = "zalo:user_seen_message:zns-1";
  auto o = receipts::apply(store_, r, {"zalo-oa", "zalo-zns"});
  EXPECT_EQ(o.kind, receipts::Outcome::Kind::applied);
  EXPECT_EQ(o.delivery_id, 2);
  EXPECT_EQ(store_.applied.back().second.detail, "zalo user_seen_message msg_id zns-1");
  EXPECT_EQ(store_.applied.back().second.source, "receipt:zalo-zns");

  // Posted again: applied once.
  EXPECT_EQ(receipts::apply(store_, r, {"zalo-oa", "zalo-zns"}).kind, receipts::Outcome::Kind::duplicate);
  EXPECT_EQ(store_.applied.size(), 1u);

  // Not among the gateways the post is genuine for: neither by id nor by token.
  Receipt foreign = r;
  foreign.once.clear();
  foreign.token = kTokenB;
  EXPECT_EQ(receipts::apply(store_, foreign, {"zalo-oa"}).kind, receipts::Outcome::Kind::unknown);

  // An id the provider has not answered with yet: the echoed token finds it.
  Receipt early = r;
  early.provider_ref = "zns-not-yet";
  early.token = kTokenB;
  early.once = "zalo:user_received_message:zns-not-yet";
  early.state = S::delivered;
  auto e = receipts::apply(store_, early, {"zalo-zns"});
  EXPECT_EQ(e.kind, receipts::Outcome::Kind::unchanged);  // read already: never backwards
  EXPECT_EQ(e.delivery_id, 2);
}

TEST_F(ReceiptsTest, WhatAProviderQuotesIsScrubbedOfSecrets) {
  remember_secret("kannel-secret-pw-1234");
  Receipt r = from_token(kTokenA, S::failed, "16");
  r.error_code = "kannel_dlr_16";
  r.detail = "refused: password=kannel-secret-pw-1234";
  receipts::apply(store_, r, {"kannel-local"});
  ASSERT_EQ(store_.applied.size(), 1u);
  EXPECT_EQ(store_.applied[0].second.detail.find("kannel-secret-pw-1234"), std::string::npos);
  EXPECT_EQ(store_.applied[0].second.error_text.find("kannel-secret-pw-1234"), std::string::npos);
}

TEST_F(ReceiptsTest, KnownTellsABadRequestFromAGuess) {
  EXPECT_TRUE(receipts::known(store_, kTokenA, "kannel-local"));
  EXPECT_FALSE(receipts::known(store_, kTokenA, "zalo-zns"));
  EXPECT_FALSE(receipts::known(store_, "nope", "kannel-local"));
}

}  // namespace
}  // namespace herald
