#include "acks/followups.hpp"

#include <algorithm>
#include <map>

#include "core/log.hpp"
#include "planner/planner.hpp"

namespace herald::acks {

namespace {

bool fired(const AckWatch& w, const std::string& kind) {
  return std::find(w.fired.begin(), w.fired.end(), kind) != w.fired.end();
}

// The first of the person's channels (preferences, then fallback chain) with an address,
// other than `not_this`.
std::optional<std::pair<Channel, std::string>> reachable(const Person& p, std::optional<Channel> not_this) {
  std::vector<Channel> order = p.channels;
  for (Channel c : p.fallback.chain)
    if (std::find(order.begin(), order.end(), c) == order.end()) order.push_back(c);
  for (Channel c : order) {
    if (not_this && c == *not_this) continue;
    if (auto a = address_for(p, c); !a.empty()) return std::pair{c, a};
  }
  return std::nullopt;
}

}  // namespace

size_t run_followups(Store& store, const Directory& dir, const AcksConfig& cfg, int64_t now) {
  size_t added = 0;
  for (const AckWatch& w : store.ack_watches(now)) {
    const AckPolicy& policy = cfg.policy[static_cast<size_t>(rank(w.urgency))];
    // Reminders: only before the deadline (one missed while heraldd was down is not sent late).
    for (size_t i = 0; i < policy.remind_before_ms.size(); ++i) {
      const std::string kind = "reminder:" + std::to_string(i);
      if (fired(w, kind) || now < w.deadline_ms - policy.remind_before_ms[i] || now >= w.deadline_ms) continue;
      std::vector<PlannedDelivery> out;
      for (const MissingAck& m : store.missing_acks(w.directive_id)) {
        PlannedDelivery p{"person", m.recipient_id, m.recipient_name, m.channel, m.address,
                          DeliveryState::queued, {}, {}, {}, 0, Purpose::directive, {}};
        p.purpose = Purpose::reminder;
        p.note = kind;  // a second reminder is another delivery on the same channel
        out.push_back(std::move(p));
      }
      if (store.add_followup(w.directive_id, kind, out, now)) {
        added += out.size();
        log::info(w.directive_id, ": ", out.size(), " reminders to those who have not acknowledged");
      }
    }
    if (fired(w, "escalation") || now < w.deadline_ms + policy.escalate_after_ms) continue;
    std::vector<PlannedDelivery> out;
    std::map<std::string, std::vector<std::string>> by_superior;  // superior -> names
    for (const MissingAck& m : store.missing_acks(w.directive_id)) {
      const Person* p = dir.person(m.recipient_id);
      if (!p) continue;
      if (policy.escalate_to_superior && !p->superior.empty()) by_superior[p->superior].push_back(m.recipient_name);
      if (policy.escalate_next_channel)
        if (auto next = reachable(*p, m.channel)) {
          PlannedDelivery d{"person", p->id, p->name, next->first, next->second, DeliveryState::queued, {}, {}, {}, 0, Purpose::directive, {}};
          d.purpose = Purpose::reminder;
          d.note = "next channel after the deadline";
          out.push_back(std::move(d));
        }
    }
    for (const auto& [sid, names] : by_superior) {
      const Person* s = dir.person(sid);
      if (!s) continue;
      auto via = reachable(*s, std::nullopt);
      if (!via) continue;
      std::string note;
      for (const auto& n : names) note += (note.empty() ? "" : ", ") + n;
      PlannedDelivery d{"person", s->id, s->name, via->first, via->second, DeliveryState::queued, {}, {}, {}, 0, Purpose::directive, {}};
      d.purpose = Purpose::escalation;
      d.note = note;
      out.push_back(std::move(d));
    }
    if (store.add_followup(w.directive_id, "escalation", out, now)) {
      added += out.size();
      log::info(w.directive_id, ": deadline passed; ", out.size(), " escalation deliveries");
    }
  }
  return added;
}

}  // namespace herald::acks
