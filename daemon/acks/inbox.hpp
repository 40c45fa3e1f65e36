#pragma once
// Replies in: who wrote, which directive they acknowledge (by its code, or the only one
// they have open), and what to answer. Every reply is recorded, matched or not; an
// ambiguous or unknown one is answered with help, never guessed.
#include <string>

#include "core/channel.hpp"
#include "directory/directory.hpp"
#include "store/store.hpp"

namespace herald::acks {

struct ReplyOutcome {
  std::string outcome;       // as ReplyRecord::outcome
  std::string directive_id;  // when one was acknowledged
  std::string answer;        // help text to send back to the sender; empty: nothing
  bool queued_help = false;  // the help was queued as a message (Zalo), not left to the caller
};

/// `sender` is the phone as the gateway gave it (sms) or the Zalo user id (zalo).
ReplyOutcome take_reply(Store& store, const Directory& dir, Channel channel, const std::string& sender,
                        const std::string& text, int64_t now_ms);

}  // namespace herald::acks
