#pragma once
// Turns a directive and the directory into one delivery per (recipient, channel).
#include <functional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/channel.hpp"
#include "core/delivery.hpp"
#include "directive/directive.hpp"
#include "directory/directory.hpp"

namespace herald {

/// Where `p` is reached on `c` now: E.164 phone, Zalo user id (else phone, for ZNS),
/// email; empty when they have none (loudspeakers are per zone, never per person).
std::string address_for(const Person& p, Channel c);

struct Plan {
  std::vector<PlannedDelivery> deliveries;
  std::vector<DirectiveError> errors;  // references the directory does not know
};

/// Resolution rules (docs/architecture.md): groups expand to their members, each person
/// counted once; channels are the directive's list, else the person's preferences; a
/// person reachable on none of them gets one `failed` delivery with code `no_contact` so
/// the report shows the gap; loudspeaker deliveries go per zone. A person with a fallback
/// chain gets one delivery on the chain's first usable channel, carrying the rest of the
/// chain; channels outside the chain are sent as usual.
Plan plan_deliveries(const Directive& d, const Directory& dir, const Config& cfg);

/// Who a directive reaches, before any delivery is planned: each person once, in id
/// order; the zones; and every reference the directory does not know.
struct Resolution {
  std::vector<const Person*> people;
  std::vector<std::string> zones;
  std::vector<DirectiveError> errors;
};
Resolution resolve_recipients(const Directive& d, const Directory& dir);

/// The same rules, one delivery at a time (`emit`'s argument is reused after it returns):
/// how intake plans into the store without holding every delivery in memory.
void plan_deliveries(const Directive& d, const Directory& dir, const Config& cfg, const Resolution& res,
                     const std::function<void(const PlannedDelivery&)>& emit);

}  // namespace herald
