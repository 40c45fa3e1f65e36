// planner: a directive and the directory -> one delivery per (recipient, channel).
#include "planner/planner.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include <gtest/gtest.h>

#include "support.hpp"

namespace herald {
namespace {

using Row = std::tuple<std::string, Channel, std::string>;  // recipient, channel, address

Directive seed() {
  auto p = parse_directive(test::seed_json());
  if (!p.directive) throw std::runtime_error(p.summary());
  return *p.directive;
}

Directive to(std::vector<RecipientRef> recipients) {
  Directive d;
  d.id = "test/1";
  d.number = "1-TB";
  d.recipients = std::move(recipients);
  return d;
}

RecipientRef group(const char* id) { return {RecipientRef::Kind::group, id}; }
RecipientRef person(const char* id) { return {RecipientRef::Kind::person, id}; }

std::set<Row> rows(const Plan& plan) {
  std::set<Row> out;
  for (const auto& d : plan.deliveries) out.insert({d.recipient_id, d.channel, d.address});
  return out;
}

std::vector<std::string> error_lines(const Plan& plan) {
  std::vector<std::string> out;
  for (const auto& e : plan.errors) out.push_back(e.path + ": " + e.message);
  return out;
}

TEST(Planner, SeedReachesEveryoneOnTheirPreferredChannels) {
  auto dir = test::example_directory();
  Plan plan = plan_deliveries(seed(), *dir, test::config_with(dir));
  ASSERT_TRUE(plan.errors.empty()) << error_lines(plan)[0];

  // The expected set, worked out from the directory: the members of the four groups of
  // "Kính gửi" / "Nơi nhận", each person once, on each channel they prefer.
  std::set<std::string> people;
  for (const char* g : {"chi-bo-dang-bo-truc-thuoc", "ubnd-xa-thi-tran",
                        "ban-nganh-doan-the-huyen", "huyen-uy-vien"})
    for (const Person* p : dir->members(g)) people.insert(p->id);
  EXPECT_EQ(people.size(), 44u);  // 12 party cells + 16 commune UBND + 12 more agencies + 4 leaders
  std::set<Row> expected;
  for (const auto& id : people) {
    const Person& p = *dir->person(id);
    for (Channel c : p.channels) {
      std::string addr = c == Channel::sms     ? p.contacts.phone
                         : c == Channel::email ? p.contacts.email
                         : !p.contacts.zalo_user_id.empty() ? p.contacts.zalo_user_id
                                                            : p.contacts.phone;
      expected.insert({id, c, addr});
    }
  }
  EXPECT_EQ(plan.deliveries.size(), 92u);
  EXPECT_EQ(expected.size(), 92u);
  EXPECT_EQ(rows(plan), expected);

  std::map<Channel, int> per_channel;
  for (const auto& d : plan.deliveries) {
    ++per_channel[d.channel];
    EXPECT_EQ(d.state, DeliveryState::queued) << d.recipient_id;
    EXPECT_EQ(d.recipient_kind, "person");
    EXPECT_EQ(d.error_code, "");
  }
  EXPECT_EQ(per_channel[Channel::sms], 37);
  EXPECT_EQ(per_channel[Channel::zalo], 25);
  EXPECT_EQ(per_channel[Channel::email], 30);
  EXPECT_EQ(per_channel[Channel::loudspeaker], 0);

  // A few rows checked by hand against config/directory.example.yaml.
  auto all = rows(plan);
  EXPECT_TRUE(all.count({"ct-ubnd-an-hiep", Channel::sms, "+84912000126"}));
  EXPECT_TRUE(all.count({"ct-ubnd-an-hiep", Channel::zalo, "1000000000000013"}));
  EXPECT_FALSE(all.count({"ct-ubnd-an-hiep", Channel::email, "ubnd.an-hiep@chauthanh.example"}));
  EXPECT_TRUE(all.count({"ct-ubnd-thi-tran-chau-thanh", Channel::email,
                         "ubnd.thi-tran-chau-thanh@chauthanh.example"}));
  EXPECT_TRUE(all.count({"cvp-huyen-uy", Channel::sms, "+84912000104"}));
  EXPECT_TRUE(all.count({"bt-huyen-uy", Channel::zalo, "1000000000000001"}));  // via ban-thuong-vu
  // Not addressed by 158-CV/HU: the loudspeaker operators and the office clerk.
  for (const auto& d : plan.deliveries) {
    EXPECT_NE(d.recipient_id.rfind("dtt-", 0), 0u) << d.recipient_id;
    EXPECT_NE(d.recipient_id, "vt-huyen-uy");
  }
  // Ordered by recipient id, then in preference order.
  EXPECT_EQ(plan.deliveries.front().recipient_id, "bt-dang-uy-an-hiep");
  EXPECT_EQ(plan.deliveries.front().channel, Channel::zalo);
  EXPECT_EQ(plan.deliveries.front().recipient_name, "Trần Thị Oanh (giả định)");
}

TEST(Planner, UnknownReferencesAreErrorsWithPaths) {
  auto dir = test::example_directory();
  Directive d = to({group("ubnd-xa-thi-tran"), group("ubnd-xa-khong-co"), person("ghost")});
  d.loudspeaker = LoudspeakerRequest{{"an-hiep", "atlantis"}, "", 1};
  Plan plan = plan_deliveries(d, *dir, test::config_with(dir));
  EXPECT_TRUE(plan.deliveries.empty());
  EXPECT_EQ(error_lines(plan), (std::vector<std::string>{
                                   "recipients[1].group: unknown group \"ubnd-xa-khong-co\"",
                                   "recipients[2].person: unknown person \"ghost\"",
                                   "loudspeaker.zones[1]: unknown zone \"atlantis\""}));
}

TEST(Planner, PersonNamedTwiceGetsOneDeliveryPerChannel) {
  auto dir = test::example_directory();
  Plan plan = plan_deliveries(to({group("ubnd-an-hiep"), person("ct-ubnd-an-hiep")}), *dir,
                              test::config_with(dir));
  EXPECT_EQ(rows(plan), (std::set<Row>{{"ct-ubnd-an-hiep", Channel::sms, "+84912000126"},
                                       {"ct-ubnd-an-hiep", Channel::zalo, "1000000000000013"},
                                       {"vp-ubnd-an-hiep", Channel::email, "vanphong.an-hiep@chauthanh.example"},
                                       {"vp-ubnd-an-hiep", Channel::sms, "+84912000127"}}));
}

TEST(Planner, DirectiveChannelsReplacePreferences) {
  auto dir = test::example_directory();
  Directive d = seed();
  d.channels = {Channel::email};
  Plan plan = plan_deliveries(d, *dir, test::config_with(dir));
  ASSERT_EQ(plan.deliveries.size(), 44u);  // one per person
  int failed = 0;
  for (const auto& p : plan.deliveries) {
    EXPECT_EQ(p.channel, Channel::email) << p.recipient_id;
    if (p.state == DeliveryState::failed) {
      ++failed;
      // The party secretaries of the communes have no e-mail in the directory.
      EXPECT_EQ(p.recipient_id.rfind("bt-dang-uy-", 0), 0u) << p.recipient_id;
      EXPECT_EQ(p.error_code, "no_contact");
      EXPECT_EQ(p.address, "");
    } else {
      EXPECT_EQ(p.address, dir->person(p.recipient_id)->contacts.email);
    }
  }
  EXPECT_EQ(failed, 8);
  // tt-ban-to-chuc prefers [zalo, email]; asked for SMS only, SMS it is.
  d.channels = {Channel::sms};
  EXPECT_TRUE(rows(plan_deliveries(d, *dir, test::config_with(dir)))
                  .count({"tt-ban-to-chuc", Channel::sms, "+84912000105"}));
}

TEST(Planner, NoContactOnRequestedChannelsIsOneFailedDelivery) {
  auto dir = test::example_directory();
  Directive d = to({person("vt-huyen-uy")});  // e-mail only
  d.channels = {Channel::sms, Channel::zalo};
  Plan plan = plan_deliveries(d, *dir, test::config_with(dir));
  ASSERT_EQ(plan.deliveries.size(), 1u);
  const PlannedDelivery& p = plan.deliveries[0];
  EXPECT_EQ(p.recipient_id, "vt-huyen-uy");
  EXPECT_EQ(p.channel, Channel::sms);
  EXPECT_EQ(p.address, "");
  EXPECT_EQ(p.state, DeliveryState::failed);
  EXPECT_EQ(p.error_code, "no_contact");
  EXPECT_EQ(p.error_text, "no contact on an enabled channel among the requested ones");
}

TEST(Planner, DisabledChannelsAreSkipped) {
  auto dir = test::example_directory();
  Plan plan = plan_deliveries(seed(), *dir,
                              test::config_with(dir, {Channel::sms, Channel::email}));
  EXPECT_EQ(plan.deliveries.size(), 92u - 25u);  // the zalo ones
  for (const auto& p : plan.deliveries) {
    EXPECT_NE(p.channel, Channel::zalo);
    EXPECT_EQ(p.state, DeliveryState::queued);  // everyone has a second channel
  }
  // With e-mail off too, tt-ban-to-chuc ([zalo, email]) is reachable on neither.
  Plan sms_only = plan_deliveries(to({person("tt-ban-to-chuc"), person("ct-ubnd-an-hiep")}), *dir,
                                  test::config_with(dir, {Channel::sms}));
  ASSERT_EQ(sms_only.deliveries.size(), 2u);
  EXPECT_EQ(sms_only.deliveries[0].recipient_id, "ct-ubnd-an-hiep");
  EXPECT_EQ(sms_only.deliveries[0].channel, Channel::sms);
  EXPECT_EQ(sms_only.deliveries[1].recipient_id, "tt-ban-to-chuc");
  EXPECT_EQ(sms_only.deliveries[1].state, DeliveryState::failed);
  EXPECT_EQ(sms_only.deliveries[1].error_code, "no_contact");
  EXPECT_EQ(sms_only.deliveries[1].channel, Channel::zalo);  // the first one asked for
}

TEST(Planner, LoudspeakerDeliveriesPerZone) {
  auto dir = test::example_directory();
  Directive d = to({person("dtt-an-hiep")});
  d.loudspeaker = LoudspeakerRequest{{"an-hiep", "ho-dac-kien", "an-hiep"}, "Thông báo", 2};
  Plan plan = plan_deliveries(d, *dir, test::config_with(dir));
  ASSERT_EQ(plan.deliveries.size(), 3u);
  EXPECT_EQ(plan.deliveries[0].recipient_id, "dtt-an-hiep");
  EXPECT_EQ(plan.deliveries[0].channel, Channel::sms);
  const PlannedDelivery& z1 = plan.deliveries[1];
  EXPECT_EQ(z1.recipient_kind, "zone");
  EXPECT_EQ(z1.recipient_id, "an-hiep");
  EXPECT_EQ(z1.recipient_name, "Xã An Hiệp");
  EXPECT_EQ(z1.channel, Channel::loudspeaker);
  EXPECT_EQ(z1.address, "an-hiep");
  EXPECT_EQ(z1.state, DeliveryState::queued);
  EXPECT_EQ(plan.deliveries[2].recipient_id, "ho-dac-kien");
  EXPECT_EQ(plan.deliveries[2].recipient_name, "Xã Hồ Đắc Kiện");

  // Not among the directive's channels, or switched off: no zone deliveries.
  d.channels = {Channel::sms};
  EXPECT_EQ(plan_deliveries(d, *dir, test::config_with(dir)).deliveries.size(), 1u);
  d.channels = {Channel::sms, Channel::loudspeaker};
  EXPECT_EQ(plan_deliveries(d, *dir, test::config_with(dir)).deliveries.size(), 3u);
  d.channels.clear();
  EXPECT_EQ(plan_deliveries(d, *dir, test::config_with(dir, {Channel::sms})).deliveries.size(), 1u);
}

}  // namespace
}  // namespace herald
