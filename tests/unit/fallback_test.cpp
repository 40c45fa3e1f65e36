// Fallback chains: read from the directory, planned as one delivery carrying the rest of
// the chain, and moved on by the store exactly once when a delivery fails, expires, or
// gets no receipt in time; never in addition to a success.
#include <gtest/gtest.h>

#include "settings/yaml_reader.hpp"
#include "core/time.hpp"
#include "planner/planner.hpp"
#include "store/store.hpp"
#include "support.hpp"

namespace herald {
namespace {

using S = DeliveryState;

constexpr const char* kDirectory = R"(groups:
  - id: xa
    name: "UBND các xã"
    fallback: {chain: [zalo, sms, email], after: 10m}
  - id: ban
    name: "Các ban"
people:
  - id: chu-tich
    name: "Chủ tịch"
    groups: [xa]
    contacts: {phone: "0912 000 301", zalo_user_id: "1000000000000301", email: "ct@xa.example"}
    channels: [zalo, sms, email]
  - id: chi-sms
    name: "Chỉ có số điện thoại"
    groups: [xa]
    contacts: {phone: "0912 000 302"}
  - id: rieng
    name: "Có chuỗi riêng"
    groups: [xa, ban]
    contacts: {phone: "0912 000 303", email: "r@ban.example"}
    channels: [email, sms]
    fallback: {chain: [email, sms]}
  - id: khong
    name: "Không có chuỗi"
    groups: [ban]
    contacts: {phone: "0912 000 304", email: "k@ban.example"}
    channels: [sms, email]
)";

std::shared_ptr<const Directory> directory(const char* text = kDirectory) {
  Diagnostics d("dir.yaml");
  auto root = load_yaml_string(text, d);
  EXPECT_TRUE(root.has_value());
  auto dir = Directory::from_yaml(*root, d);
  for (const auto& e : d.errors()) ADD_FAILURE() << e.str();
  return dir ? std::make_shared<const Directory>(std::move(*dir)) : nullptr;
}

TEST(FallbackDirectory, GroupChainIsInheritedAndAPersonsOwnWins) {
  auto dir = directory();
  ASSERT_NE(dir, nullptr);
  EXPECT_EQ(dir->person("chu-tich")->fallback.chain,
            (std::vector<Channel>{Channel::zalo, Channel::sms, Channel::email}));
  EXPECT_EQ(dir->person("chu-tich")->fallback.after_ms, 600000);
  EXPECT_EQ(dir->person("rieng")->fallback.chain, (std::vector<Channel>{Channel::email, Channel::sms}));
  EXPECT_EQ(dir->person("rieng")->fallback.after_ms, 0);
  EXPECT_TRUE(dir->person("khong")->fallback.empty());
}

TEST(FallbackDirectory, RefusesBadChains) {
  Diagnostics d("dir.yaml");
  auto root = load_yaml_string(R"(groups:
  - id: g
    name: "G"
    fallback: {chain: [zalo, fax]}
  - id: h
    name: "H"
    fallback: {chain: [sms]}
  - id: i
    name: "I"
    fallback: {chain: [sms, sms, email], after: soon}
)", d);
  ASSERT_TRUE(root);
  EXPECT_FALSE(Directory::from_yaml(*root, d).has_value());
  std::vector<std::string> got;
  for (const auto& e : d.errors()) got.push_back(e.str());
  EXPECT_EQ(got, (std::vector<std::string>{
                     "dir.yaml:4:30: fallback channel must be sms, zalo or email, not \"fax\"",
                     "dir.yaml:7:23: a fallback chain needs at least two channels",
                     "dir.yaml:10:29: channel \"sms\" appears twice in the fallback chain",
                     "dir.yaml:10:49: fallback.after must be a duration such as 500ms, 30s, 5m or 2h"}));
}

Directive directive_to(std::vector<RecipientRef> who, std::vector<Channel> channels = {}) {
  Directive d;
  d.id = "t/fallback";
  d.number = "1-TB";
  d.issuer_code = "HU";
  d.issuer_name = "Huyện ủy";
  d.issued_at = "2021-07-12T08:00:00+07:00";
  d.subject = "Thử";
  d.recipients = std::move(who);
  d.channels = std::move(channels);
  return d;
}

TEST(FallbackPlan, OneDeliveryCarriesTheRestOfTheChain) {
  auto dir = directory();
  Config cfg = test::config_with(dir);
  Plan p = plan_deliveries(directive_to({{RecipientRef::Kind::group, "xa"}, {RecipientRef::Kind::group, "ban"}}),
                           *dir, cfg);
  ASSERT_TRUE(p.errors.empty());
  std::map<std::string, std::vector<std::string>> got;  // person -> "channel|fallback"
  for (const auto& d : p.deliveries)
    got[d.recipient_id].push_back(std::string(to_string(d.channel)) + "|" + d.fallback);
  // The chain replaces separate deliveries on its channels: zalo first, then sms, email.
  EXPECT_EQ(got["chu-tich"], (std::vector<std::string>{"zalo|sms:+84912000301,email:ct@xa.example"}));
  // No Zalo user id: Zalo is tried by phone (ZNS), then SMS — the -118 case.
  EXPECT_EQ(got["chi-sms"], (std::vector<std::string>{"zalo|sms:+84912000302"}));
  EXPECT_EQ(got["rieng"], (std::vector<std::string>{"email|sms:+84912000303"}));
  EXPECT_EQ(got["khong"], (std::vector<std::string>{"sms|", "email|"}));
  for (const auto& d : p.deliveries)
    if (d.recipient_id == "chu-tich") {
      EXPECT_EQ(d.fallback_after_ms, 600000);
    }
}

TEST(FallbackPlan, TheDirectivesChannelsLimitTheChain) {
  auto dir = directory();
  Config cfg = test::config_with(dir);
  Plan p = plan_deliveries(directive_to({{RecipientRef::Kind::person, "chu-tich"}}, {Channel::zalo, Channel::sms}),
                           *dir, cfg);
  ASSERT_EQ(p.deliveries.size(), 1u);
  EXPECT_EQ(p.deliveries[0].channel, Channel::zalo);
  EXPECT_EQ(p.deliveries[0].fallback, "sms:+84912000301");
}

class FallbackStore : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = directory();
    cfg_ = test::config_with(dir_);
    store_ = test::open_store(tmp_.file("herald.db"));
    Directive d = directive_to({{RecipientRef::Kind::group, "xa"}});
    Plan p = plan_deliveries(d, *dir_, cfg_);
    ASSERT_TRUE(store_->commit_directive(d, "{}", p.deliveries).created);
  }
  DeliveryRow on(const std::string& who, Channel c) {
    for (const auto& r : store_->deliveries("t/fallback"))
      if (r.recipient_id == who && r.channel == c) return r;
    ADD_FAILURE() << who << " has no " << to_string(c) << " delivery";
    return {};
  }
  size_t count(const std::string& who) {
    size_t n = 0;
    for (const auto& r : store_->deliveries("t/fallback")) n += r.recipient_id == who;
    return n;
  }
  TransitionResult fail(int64_t id, const std::string& code) {
    return store_->transition(id, {S::failed, Cause::gateway_failed, "gateway:zalo", "", code, "no Zalo account", {}, {}});
  }

  test::TempDir tmp_;
  std::shared_ptr<const Directory> dir_;
  Config cfg_;
  std::unique_ptr<Store> store_;
};

TEST_F(FallbackStore, APermanentFailureQueuesTheNextChannelOnce) {
  int64_t zalo = on("chu-tich", Channel::zalo).id;
  store_->claim_due(Channel::zalo, "zalo", now_ms(), 10);
  TransitionResult r = fail(zalo, "zalo_-118");
  ASSERT_TRUE(r.applied);
  ASSERT_GT(r.fallback_id, 0);
  DeliveryRow sms = on("chu-tich", Channel::sms);
  EXPECT_EQ(sms.id, r.fallback_id);
  EXPECT_EQ(sms.state, S::queued);
  EXPECT_EQ(sms.address, "+84912000301");
  EXPECT_EQ(count("chu-tich"), 2u);
  // The failed delivery does not fail over a second time.
  store_->transition(zalo, {S::delivered, Cause::receipt, "receipt", "", {}, {}, {}, {}});
  EXPECT_EQ(fail(zalo, "again").fallback_id, 0);
  EXPECT_EQ(count("chu-tich"), 2u);
  // The event log says why the SMS exists.
  bool found = false;
  for (const auto& e : store_->events("t/fallback"))
    if (e.delivery_id == sms.id && e.source == "fallback") {
      found = true;
      EXPECT_NE(e.detail.find("zalo_-118"), std::string::npos) << e.detail;
    }
  EXPECT_TRUE(found);
  // The SMS carries the rest of the chain: if it fails too, email comes next.
  store_->claim_due(Channel::sms, "kannel", now_ms(), 10);
  TransitionResult r2 = store_->transition(sms.id, {S::failed, Cause::gateway_failed, "gw", "", std::string("kannel_denied"), "denied", {}, {}});
  ASSERT_GT(r2.fallback_id, 0);
  EXPECT_EQ(on("chu-tich", Channel::email).address, "ct@xa.example");
}

TEST_F(FallbackStore, ASuccessNeverFallsOver) {
  int64_t zalo = on("chu-tich", Channel::zalo).id;
  store_->claim_due(Channel::zalo, "zalo", now_ms(), 10);
  store_->transition(zalo, {S::sent, Cause::gateway_accepted, "gw", "", {}, {}, {}, {}});
  store_->transition(zalo, {S::delivered, Cause::receipt, "receipt", "", {}, {}, {}, {}});
  EXPECT_EQ(store_->expire_unconfirmed(now_ms() + 3600000), 0u);
  // A failure receipt after delivered changes nothing, so nothing fails over either.
  EXPECT_EQ(store_->transition(zalo, {S::failed, Cause::receipt, "receipt", "", std::string("x"), "", {}, {}}).fallback_id, 0);
  EXPECT_EQ(count("chu-tich"), 1u);
}

TEST_F(FallbackStore, NoReceiptWithinTheWaitExpiresAndFallsOver) {
  int64_t zalo = on("chu-tich", Channel::zalo).id;
  store_->claim_due(Channel::zalo, "zalo", now_ms(), 10);
  store_->transition(zalo, {S::sent, Cause::gateway_accepted, "gw", "", {}, {}, {}, {}});
  const int64_t now = now_ms();
  EXPECT_EQ(store_->expire_unconfirmed(now + 600000 - 5000), 0u);
  EXPECT_EQ(store_->expire_unconfirmed(now + 600000 + 5000), 1u);
  EXPECT_EQ(on("chu-tich", Channel::zalo).state, S::expired);
  EXPECT_EQ(on("chu-tich", Channel::zalo).error_code, "no_receipt");
  EXPECT_EQ(on("chu-tich", Channel::sms).state, S::queued);
  EXPECT_EQ(store_->expire_unconfirmed(now + 7200000), 0u);  // the SMS has not been sent yet
}

}  // namespace
}  // namespace herald
