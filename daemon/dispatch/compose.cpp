#include "dispatch/compose.hpp"

#include "acks/ack_link.hpp"
#include "core/log.hpp"
#include "core/time.hpp"
#include "render/followup.hpp"
#include "render/sms_render.hpp"

namespace herald {

void Composer::set_announcer(loudspeaker::Announcer* a, std::function<std::shared_ptr<const Directory>()> directory) {
  announcer_ = a;
  directory_ = std::move(directory);
}

std::shared_ptr<const Directive> Composer::directive(DispatchStore& store, const std::string& id) {
  {
    std::lock_guard lock(directives_mu_);
    if (auto it = directives_.find(id); it != directives_.end()) return it->second;
  }
  auto stored = store.directive_to_send(id);
  if (!stored) return nullptr;
  DirectiveParse p = parse_directive(stored->raw, std::max<size_t>(stored->raw.size(), cfg_.intake.max_directive_bytes));
  if (!p.directive) return nullptr;
  // The ack code is the store's, not the message's.
  if (p.directive->ack_required) p.directive->ack_code = stored->ack_code;
  auto d = std::make_shared<const Directive>(std::move(*p.directive));
  std::lock_guard lock(directives_mu_);
  if (directives_.size() >= 1024) directives_.clear();  // a simple bound; misses re-parse
  directives_.emplace(id, d);
  return d;
}

std::string Composer::receipt_url(const Gateway& gateway, Channel channel, const std::string& token) const {
  std::string url = cfg_.dispatch.public_url + "/hooks/" + std::string(to_string(channel)) + "/" + gateway.name() +
                    "/" + token;
  std::string q = gateway.receipt_query();
  return q.empty() ? url : url + "?" + q;
}

void Composer::compose(const Gateway& gateway, const ClaimedDelivery& c, std::function<void(Composition&&)> done) {
  Composition out;
  out.directive = directive(store_, c.directive_id);
  if (!out.directive) {
    out.kind = Composition::Kind::unreadable;
    return done(std::move(out));
  }
  const std::shared_ptr<const Directive>& d = out.directive;
  OutboundMessage& m = out.message;
  m.delivery_id = c.id;
  m.token = c.token;
  m.channel = c.channel;
  m.address = c.address;
  m.receipt_url = receipt_url(gateway, c.channel, c.token);
  m.directive = d.get();
  m.recipient_name = c.recipient_name;
  // Reminders and escalations say their own thing (render/followup.hpp).
  if (c.purpose != Purpose::directive) {
    out.view = std::make_shared<const Directive>(followup_view(*d, c.purpose, c.note));
    m.directive = out.view.get();
  }
  if (m.directive->ack_required && !m.directive->ack_code.empty() && !ack_secret_.empty() &&
      (c.channel == Channel::email || c.channel == Channel::zalo)) {
    const int64_t base = d->ack_deadline_ms.value_or(now_ms());
    m.ack_url = cfg_.dispatch.public_url + "/ack/" +
                acks::sign_ack_token({c.id, (base + cfg_.acks.link_ttl_ms) / 1000}, ack_secret_);
  }
  if (c.purpose == Purpose::help) {
    // How to acknowledge, to someone whose reply could not be placed: the text is the note.
    m.directive = nullptr;
    m.text = c.note;
  }
  if (c.channel == Channel::sms && m.directive) {
    // Every recipient of a directive gets the same text: rendered once per gateway.
    const bool cacheable = c.purpose == Purpose::directive;
    SmsText& cached = sms_[&gateway];
    if (!cacheable || cached.of != d) {
      SmsTemplate t = cfg_.channels.at(Channel::sms).sms_template;
      t.unaccented = t.unaccented || gateway.unaccented();
      RenderedSms r = render_sms(*m.directive, t, {});
      if (!cacheable) {
        m.text = std::move(r.text);
        m.coding = r.size.coding;
      } else {
        cached = {d, std::move(r.text), r.size.coding};
      }
    }
    if (cacheable) {
      m.text = cached.text;
      m.coding = cached.coding;
    }
  }
  if (!renders_audio(c)) return done(std::move(out));
  // A zone's job needs the spoken audio: rendered on the audio worker (or found in its
  // cache), then sent.
  auto dir = directory_ ? directory_() : nullptr;
  const Zone* zone = dir ? dir->zone(c.address) : nullptr;
  auto pending = std::make_shared<Composition>(std::move(out));
  announcer_->prepare(*pending->directive, zone,
                      [pending, dir, zone_id = c.address, id = c.id, done = std::move(done)](
                          std::optional<Announcement> a, std::string error) mutable {
                        if (!a) {
                          pending->kind = Composition::Kind::withheld;
                          pending->why = std::move(error);
                        } else {
                          if (!error.empty())
                            log::warning("delivery ", id, " (zone ", zone_id, "): sent as text only: ", error);
                          pending->message.announcement = std::move(a);
                        }
                        done(std::move(*pending));
                      });
}

}  // namespace herald
