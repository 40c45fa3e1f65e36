#pragma once
// What goes into the store and comes out of it: plain rows, shared by the store's role
// interfaces (store/store.hpp) and the stages that use them.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/channel.hpp"
#include "core/delivery.hpp"
#include "core/transition.hpp"
#include "directive/directive.hpp"

namespace herald {

struct StateCount {
  Channel channel;
  DeliveryState state;
  int64_t count = 0;
};

struct DirectiveSummary {
  std::string id;
  std::string number;
  std::string issuer_code;
  std::string issuer_name;
  std::string subject;
  std::string urgency;
  std::string confidentiality;
  std::string issued_at;
  int64_t received_at_ms = 0;
  int64_t deliveries = 0;
  bool intake_complete = true;     // false while a large directive's deliveries are still being added
  std::vector<std::string> zones;  // loudspeaker zones it names
  std::optional<int64_t> cancelled_at_ms;
  std::string cancelled_by;
  std::string cancel_reason;
  std::string ack_code;
};

struct AckRow {
  std::string recipient_id;
  std::string recipient_name;
  bool acknowledged = false;
  Channel channel = Channel::sms;  // how they acknowledged
  int64_t at_ms = 0;
  std::string text;    // what they replied, or "ack link"
  std::string source;  // "reply:sms:+8491...", "link", ...
  std::vector<std::pair<Channel, DeliveryState>> deliveries;  // what was sent to them
};

/// A directive someone may still acknowledge, with its code.
struct OpenAck {
  std::string directive_id;
  std::string code;
};

struct AckOutcome {
  bool found = false;       // the directive exists and this recipient was sent it
  bool already = false;     // acknowledged before: nothing changed
  size_t acknowledged = 0;  // their deliveries now `acknowledged`
  size_t held_back = 0;     // their reminders and fallbacks not sent yet, now `cancelled`
};

struct ReplyRecord {
  Channel channel = Channel::sms;
  std::string sender;   // phone or Zalo user id as it came
  std::string text;
  std::string outcome;  // acknowledged, already, unknown_sender, ambiguous, unknown_code, none_open, not_an_ack
  std::string directive_id;
  std::string recipient_id;
  std::string detail;
};

struct ReplyRow : ReplyRecord {
  int64_t id = 0;
  int64_t at_ms = 0;
};

/// A directive whose acknowledgement deadline drives reminders and escalation.
struct AckWatch {
  std::string directive_id;
  Urgency urgency = Urgency::normal;
  int64_t deadline_ms = 0;
  std::vector<std::string> fired;  // follow-ups done ("reminder:0", "escalation")
};

/// Someone who has not acknowledged, and how the directive first reached them.
struct MissingAck {
  std::string recipient_id;
  std::string recipient_name;
  Channel channel = Channel::sms;
  std::string address;
};

/// Which deliveries of a directive an operator sends again.
struct ReplayFilter {
  std::vector<DeliveryState> states{DeliveryState::failed, DeliveryState::expired};
  std::optional<Channel> channel;
  std::string recipient_id;  // empty: everyone
};

struct ReplayItem {
  int64_t delivery_id = 0;
  std::string recipient_id;
  std::string recipient_name;
  Channel channel = Channel::sms;
  DeliveryState state = DeliveryState::failed;  // before the replay
  std::string old_address;
  std::string address;  // what it goes to now (the directory's current contact)
  std::string skipped;  // why it is not sent again, if it is not
};

struct CancelOutcome {
  bool found = false;
  bool already = false;     // cancelled before: nothing changed now
  int64_t cancelled_at_ms = 0;
};

/// One batch of a cancel: a directive's deliveries that had not left yet, now `cancelled`.
struct CancelBatch {
  size_t cancelled = 0;
  int64_t after = 0;     // where the next batch starts (a delivery id)
  bool done = false;     // none waits any more
  size_t in_flight = 0;  // when done: already sent or being sent; they stay as they are
};

/// Where a replay stands: the operator's request, and how far its batches got (deliveries
/// are taken in id order, each batch after `cursor`).
struct ReplayJob {
  int64_t id = 0;
  std::string directive_id;
  ReplayFilter filter;
  std::string by;
  std::string reason;
  int64_t cursor = 0;
  int64_t replayed = 0;  // sent again so far
  int64_t skipped = 0;   // matched, but the directory has no contact on that channel
  bool done = false;
};

/// A page of a directive's deliveries: those after the cursor (a delivery id), in id
/// order, matching every filter given. `limit` 0 takes them all (inside heraldd and its
/// tests; the API always gives one, at most 1,000).
struct DeliveryQuery {
  int64_t after = 0;
  size_t limit = 0;
  std::optional<DeliveryState> state;
  std::optional<Channel> channel;
  std::string recipient_id;
};

/// A page of a directive's audit trail: events after the cursor (an event id).
struct EventQuery {
  int64_t after = 0;
  size_t limit = 0;
  std::optional<int64_t> delivery_id;
};

/// A page of who was asked to acknowledge: recipients after the cursor (a recipient id).
struct AckQuery {
  std::string after;
  size_t limit = 0;
  bool missing_only = false;
};

/// What the public feed is made of: the public directives received since a time, how many,
/// and when the last was received and cancelled (0: none).
struct PublicStamp {
  int64_t count = 0;
  int64_t last_received_ms = 0;
  int64_t last_cancelled_ms = 0;
};

struct AckTotals {
  int64_t acknowledged = 0;
  int64_t missing = 0;
};

struct DirectiveDetail {
  DirectiveSummary summary;
  std::vector<StateCount> counts;  // by channel and state
};

struct DeliveryRow {
  int64_t id = 0;
  std::string directive_id;
  std::string recipient_kind;
  std::string recipient_id;
  std::string recipient_name;
  Channel channel = Channel::sms;
  std::string address;
  DeliveryState state = DeliveryState::queued;
  int attempts = 0;
  std::string error_code;
  std::string error_text;
  std::string gateway;
  std::string provider_ref;
  int64_t next_attempt_ms = 0;
  int64_t updated_at_ms = 0;
};

/// A delivery the dispatcher has claimed (now `sending`) and must send.
struct ClaimedDelivery {
  int64_t id = 0;
  std::string directive_id;
  std::string recipient_id;
  Channel channel = Channel::sms;
  std::string address;
  std::string token;
  int attempts = 0;  // including this one
  std::string recipient_name;
  Purpose purpose = Purpose::directive;
  std::string note;
};

/// A proposed state change; the store applies it only if transition_allowed() agrees,
/// and records an event either way (so every receipt is in the audit trail).
struct TransitionRequest {
  DeliveryState to = DeliveryState::queued;
  Cause cause = Cause::receipt;
  std::string source;  // "gateway:kannel-local", "receipt:kannel-local", "recovery", ...
  std::string detail;
  std::optional<std::string> error_code;  // stored with error_text when set
  std::string error_text;
  std::optional<std::string> provider_ref;
  std::optional<int64_t> next_attempt_ms;
  /// Drops the rest of the delivery's fallback chain when applied (an acceptance that no
  /// receipt will ever follow).
  bool settle_fallback = false;
  /// Writes the event even when the state does not move. A provider's report that moves
  /// nothing (a late "accepted", a repeat) writes no row: whoever can post it in a loop
  /// must not be able to fill the store's disk.
  bool record_unchanged = true;
};

struct TransitionResult {
  bool found = false;
  bool applied = false;
  int64_t fallback_id = 0;  // the next channel's delivery, when this one failed over
  DeliveryState from = DeliveryState::queued;
  DeliveryState state = DeliveryState::queued;  // after
};

struct EventRow {
  int64_t id = 0;
  int64_t delivery_id = 0;  // 0 for directive-level events
  std::string directive_id;
  int64_t at_ms = 0;
  std::string from_state;
  std::string to_state;
  std::string source;
  std::string detail;
};

/// A directive as the dispatcher reads it back: its body as it came, and the ack code the
/// store gave it.
struct StoredDirective {
  std::string raw;
  std::string ack_code;
};

struct IntakeOutcome {
  bool created = false;      // false: the id was already taken in, nothing was added
  bool resumed = false;      // the id was partly taken in before a stop; the rest added now
  size_t deliveries = 0;     // deliveries created now
  bool same_content = true;  // for a repeat: whether the body matched the first one
};

/// Hands every delivery of a directive to `emit`, one at a time (planned on the fly).
using DeliverySource = std::function<void(const std::function<void(const PlannedDelivery&)>& emit)>;

}  // namespace herald
