#pragma once
// What a reminder or an escalation says, as a directive the channel renderers already
// know how to send: a reminder is the directive again, marked; an escalation tells a
// superior who has not acknowledged, and carries none of a confidential directive's content.
#include <string>

#include "core/delivery.hpp"
#include "directive/directive.hpp"

namespace herald {

/// `purpose`: a reminder or an escalation (anything else: `d` unchanged); `note`: for an
/// escalation, the names of those who have not acknowledged.
Directive followup_view(const Directive& d, Purpose purpose, const std::string& note);

}  // namespace herald
