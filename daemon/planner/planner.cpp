#include "planner/planner.hpp"

#include <algorithm>
#include <set>

namespace herald {

std::string address_for(const Person& p, Channel c) {
  switch (c) {
    case Channel::sms: return p.contacts.phone;
    // ZNS reaches a phone number; the OA reaches a follower's user id (preferred).
    case Channel::zalo: return !p.contacts.zalo_user_id.empty() ? p.contacts.zalo_user_id : p.contacts.phone;
    case Channel::email: return p.contacts.email;
    case Channel::loudspeaker: return {};  // loudspeakers are addressed per zone, not per person
  }
  return {};
}

Plan plan_deliveries(const Directive& d, const Directory& dir, const Config& cfg) {
  Plan plan;
  std::vector<const Person*> people;
  std::set<std::string> seen;
  for (size_t i = 0; i < d.recipients.size(); ++i) {
    const auto& ref = d.recipients[i];
    std::string path = "recipients[" + std::to_string(i) + "]";
    if (ref.kind == RecipientRef::Kind::group) {
      if (!dir.group(ref.id)) {
        plan.errors.push_back({path + ".group", "unknown group \"" + ref.id + "\""});
        continue;
      }
      for (const Person* p : dir.members(ref.id))
        if (seen.insert(p->id).second) people.push_back(p);
    } else {
      const Person* p = dir.person(ref.id);
      if (!p) {
        plan.errors.push_back({path + ".person", "unknown person \"" + ref.id + "\""});
        continue;
      }
      if (seen.insert(p->id).second) people.push_back(p);
    }
  }
  std::vector<std::string> zones;
  if (d.loudspeaker) {
    for (size_t i = 0; i < d.loudspeaker->zones.size(); ++i) {
      const auto& z = d.loudspeaker->zones[i];
      if (!dir.zone(z))
        plan.errors.push_back({"loudspeaker.zones[" + std::to_string(i) + "]", "unknown zone \"" + z + "\""});
      else if (std::find(zones.begin(), zones.end(), z) == zones.end())
        zones.push_back(z);
    }
  }
  if (!plan.errors.empty()) return plan;

  auto wanted = [&](Channel c) {
    return d.channels.empty() || std::find(d.channels.begin(), d.channels.end(), c) != d.channels.end();
  };
  std::sort(people.begin(), people.end(), [](auto* a, auto* b) { return a->id < b->id; });
  // A directive only for the loudspeakers (channels: [loudspeaker]) reaches zones, not people.
  const bool for_people = d.channels.empty() ||
                          std::any_of(d.channels.begin(), d.channels.end(),
                                      [](Channel c) { return c != Channel::loudspeaker; });
  if (!for_people) people.clear();
  for (const Person* p : people) {
    const auto& candidates = d.channels.empty() ? p->channels : d.channels;
    size_t before = plan.deliveries.size();
    auto usable = [&](Channel c) {
      return c != Channel::loudspeaker && cfg.channel_enabled(c) && !address_for(*p, c).empty();
    };
    // The fallback chain, limited to channels this directive may use and this person has.
    std::vector<Channel> chain;
    for (Channel c : p->fallback.chain)
      if (usable(c) && (d.channels.empty() || wanted(c))) chain.push_back(c);
    if (!chain.empty()) {
      PlannedDelivery first{"person", p->id, p->name, chain[0], address_for(*p, chain[0]),
                            DeliveryState::queued, {}, {}, {}, 0, "directive", {}};
      for (size_t i = 1; i < chain.size(); ++i)
        first.fallback += (i > 1 ? "," : "") + std::string(to_string(chain[i])) + ":" +
                          address_for(*p, chain[i]);
      first.fallback_after_ms = p->fallback.after_ms;
      plan.deliveries.push_back(std::move(first));
    }
    for (Channel c : candidates) {
      if (!usable(c) || std::find(chain.begin(), chain.end(), c) != chain.end()) continue;
      plan.deliveries.push_back({"person", p->id, p->name, c, address_for(*p, c), DeliveryState::queued,
                                 {}, {}, {}, 0, "directive", {}});
    }
    if (plan.deliveries.size() == before) {
      Channel c = candidates.empty() ? Channel::sms : candidates.front();
      plan.deliveries.push_back({"person", p->id, p->name, c, "", DeliveryState::failed, "no_contact",
                                 "no contact on an enabled channel among the requested ones", {}, 0, "directive", {}});
    }
  }
  // A confidential directive is never read aloud; with `confidential: skip` not even its
  // notice goes to the zones.
  const bool withheld = d.confidential() && cfg.loudspeaker().confidential == LoudspeakerSettings::Confidential::skip;
  if (wanted(Channel::loudspeaker) && cfg.channel_enabled(Channel::loudspeaker) && !withheld)
    for (const auto& z : zones)
      plan.deliveries.push_back({"zone", z, dir.zone(z)->name, Channel::loudspeaker, z,
                                 DeliveryState::queued, {}, {}, {}, 0, "directive", {}});
  return plan;
}

}  // namespace herald
