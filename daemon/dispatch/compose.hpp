#pragma once
// What a recipient receives for a claimed delivery, everything but the sending: the
// directive as the delivery's purpose shows it (itself, a reminder, an escalation, or help
// on how to acknowledge), the SMS text (rendered once per directive and gateway), the
// signed acknowledgement link, where the provider reports back, and a loudspeaker zone's
// announcement with its spoken audio (rendered off the loop, or found in its cache).
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "adapters/gateway.hpp"
#include "config/config.hpp"
#include "loudspeaker/announcer.hpp"
#include "store/store.hpp"

namespace herald {

/// A claimed delivery made into a message, or the reason it cannot be one.
struct Composition {
  enum class Kind {
    message,     // send `message`
    withheld,    // a loudspeaker zone must not hear this directive: `why`
    unreadable,  // the stored directive cannot be read
  } kind = Kind::message;
  OutboundMessage message;
  std::string why;
  // What message.directive points into: the directive, and the follow-up's view of it.
  std::shared_ptr<const Directive> directive;
  std::shared_ptr<const Directive> view;
};

class Composer {
 public:
  Composer(const Config& cfg, DispatchStore& store) : cfg_(cfg), store_(store) {}

  /// The secret ack links are signed with (kept in the store; the HTTP layer checks them).
  void set_ack_secret(std::string secret) { ack_secret_ = std::move(secret); }
  /// What loudspeaker deliveries read aloud; without it they fail (no announcement).
  void set_announcer(loudspeaker::Announcer* a, std::function<std::shared_ptr<const Directory>()> directory);

  /// True when composing `c` renders audio: its `done` then runs later, on the loop.
  bool renders_audio(const ClaimedDelivery& c) const { return c.channel == Channel::loudspeaker && announcer_; }
  /// Composes `c` for `gateway`; `done` runs before this returns unless renders_audio(c).
  void compose(const Gateway& gateway, const ClaimedDelivery& c, std::function<void(Composition&&)> done);

  /// The directive parsed from the store, cached; safe from the store writer's thread too
  /// (claims warm the cache there, so that sending rarely reads the store on the loop).
  std::shared_ptr<const Directive> directive(DispatchStore& store, const std::string& id);

 private:
  /// Where `gateway` reports on the delivery with `token`: .../hooks/<channel>/<gateway>/<token>.
  std::string receipt_url(const Gateway& gateway, Channel channel, const std::string& token) const;

  const Config& cfg_;
  DispatchStore& store_;
  std::string ack_secret_;
  loudspeaker::Announcer* announcer_ = nullptr;
  std::function<std::shared_ptr<const Directory>()> directory_;
  std::mutex directives_mu_;
  std::unordered_map<std::string, std::shared_ptr<const Directive>> directives_;
  /// The SMS text of the directive a gateway sent last (the same for all its recipients).
  struct SmsText {
    std::shared_ptr<const Directive> of;
    std::string text;
    SmsCoding coding = SmsCoding::gsm7;
  };
  std::unordered_map<const Gateway*, SmsText> sms_;  // on the loop only
};

}  // namespace herald
