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

Resolution resolve_recipients(const Directive& d, const Directory& dir) {
  Resolution res;
  for (size_t i = 0; i < d.recipients.size(); ++i) {
    const auto& ref = d.recipients[i];
    std::string path = "recipients[" + std::to_string(i) + "]";
    if (ref.kind == RecipientRef::Kind::group) {
      if (!dir.group(ref.id)) {
        res.errors.push_back({path + ".group", "unknown group \"" + ref.id + "\""});
        continue;
      }
      for (const Person* p : dir.members(ref.id)) res.people.push_back(p);
    } else {
      const Person* p = dir.person(ref.id);
      if (!p) {
        res.errors.push_back({path + ".person", "unknown person \"" + ref.id + "\""});
        continue;
      }
      res.people.push_back(p);
    }
  }
  // Each person once, in id order (a directory's people are distinct objects per id).
  std::sort(res.people.begin(), res.people.end(), [](auto* a, auto* b) { return a->id < b->id; });
  res.people.erase(std::unique(res.people.begin(), res.people.end()), res.people.end());
  if (d.loudspeaker) {
    for (size_t i = 0; i < d.loudspeaker->zones.size(); ++i) {
      const auto& z = d.loudspeaker->zones[i];
      if (!dir.zone(z))
        res.errors.push_back({"loudspeaker.zones[" + std::to_string(i) + "]", "unknown zone \"" + z + "\""});
      else if (std::find(res.zones.begin(), res.zones.end(), z) == res.zones.end())
        res.zones.push_back(z);
    }
  }
  return res;
}

void plan_deliveries(const Directive& d, const Directory& dir, const Config& cfg, const Resolution& res,
                     const std::function<void(const PlannedDelivery&)>& emit) {
  auto wanted = [&](Channel c) {
    return d.channels.empty() || std::find(d.channels.begin(), d.channels.end(), c) != d.channels.end();
  };
  // A directive only for the loudspeakers (channels: [loudspeaker]) reaches zones, not people.
  const bool for_people = d.channels.empty() ||
                          std::any_of(d.channels.begin(), d.channels.end(),
                                      [](Channel c) { return c != Channel::loudspeaker; });
  // One delivery at a time: a national directive's million deliveries are never all in
  // memory at once.
  PlannedDelivery pd{"person", {}, {}, Channel::sms, {}, DeliveryState::queued, {}, {}, {}, 0, Purpose::directive, {}};
  std::vector<Channel> chain;
  for (const Person* p : res.people) {
    if (!for_people) break;
    const auto& candidates = d.channels.empty() ? p->channels : d.channels;
    size_t emitted = 0;
    auto usable = [&](Channel c) {
      return c != Channel::loudspeaker && cfg.channel_enabled(c) && !address_for(*p, c).empty();
    };
    pd.recipient_id = p->id;
    pd.recipient_name = p->name;
    // The fallback chain, limited to channels this directive may use and this person has.
    chain.clear();
    for (Channel c : p->fallback.chain)
      if (usable(c) && (d.channels.empty() || wanted(c))) chain.push_back(c);
    if (!chain.empty()) {
      pd.channel = chain[0];
      pd.address = address_for(*p, chain[0]);
      pd.fallback.clear();
      for (size_t i = 1; i < chain.size(); ++i)
        pd.fallback += (i > 1 ? "," : "") + std::string(to_string(chain[i])) + ":" + address_for(*p, chain[i]);
      pd.fallback_after_ms = p->fallback.after_ms;
      emit(pd);
      ++emitted;
      pd.fallback.clear();
      pd.fallback_after_ms = 0;
    }
    for (Channel c : candidates) {
      if (!usable(c) || std::find(chain.begin(), chain.end(), c) != chain.end()) continue;
      pd.channel = c;
      pd.address = address_for(*p, c);
      emit(pd);
      ++emitted;
    }
    if (emitted == 0) {
      PlannedDelivery none{"person", p->id, p->name, candidates.empty() ? Channel::sms : candidates.front(), "",
                           DeliveryState::failed, "no_contact",
                           "no contact on an enabled channel among the requested ones", {}, 0, Purpose::directive, {}};
      emit(none);
    }
  }
  // A confidential directive is never read aloud; with `confidential: skip` not even its
  // notice goes to the zones.
  const bool withheld = d.confidential() && cfg.loudspeaker().confidential == LoudspeakerSettings::Confidential::skip;
  if (wanted(Channel::loudspeaker) && cfg.channel_enabled(Channel::loudspeaker) && !withheld)
    for (const auto& z : res.zones)
      emit({"zone", z, dir.zone(z)->name, Channel::loudspeaker, z, DeliveryState::queued, {}, {}, {}, 0, Purpose::directive, {}});
}

Plan plan_deliveries(const Directive& d, const Directory& dir, const Config& cfg) {
  Plan plan;
  Resolution res = resolve_recipients(d, dir);
  plan.errors = std::move(res.errors);
  if (!plan.errors.empty()) return plan;
  plan_deliveries(d, dir, cfg, res, [&](const PlannedDelivery& p) { plan.deliveries.push_back(p); });
  return plan;
}

}  // namespace herald
