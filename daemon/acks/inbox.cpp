#include "acks/inbox.hpp"

#include "acks/reply.hpp"
#include "core/log.hpp"
#include "directory/phone.hpp"

namespace herald::acks {

namespace {

std::string_view outcome_name(Resolution::Outcome o) {
  switch (o) {
    case Resolution::Outcome::matched:
    case Resolution::Outcome::no_code_single: return "acknowledged";
    case Resolution::Outcome::ambiguous: return "ambiguous";
    case Resolution::Outcome::unknown_code: return "unknown_code";
    case Resolution::Outcome::none_open: return "none_open";
    case Resolution::Outcome::not_an_ack: return "not_an_ack";
  }
  return "not_an_ack";
}

}  // namespace

ReplyOutcome take_reply(Store& store, const Directory& dir, Channel channel, const std::string& sender,
                        const std::string& text, int64_t now) {
  ReplyRecord rec;
  rec.channel = channel;
  rec.sender = sender;
  rec.text = text;
  ReplyOutcome out;
  const Person* person = nullptr;
  if (channel == Channel::sms) {
    if (auto e164 = normalize_phone(sender).e164) person = dir.person_by_phone(*e164);
  } else if (channel == Channel::zalo) {
    person = dir.person_by_zalo(sender);
  }
  if (!person) {
    // Not someone in the directory (or a number two people share): kept, not guessed.
    rec.outcome = out.outcome = "unknown_sender";
    store.record_reply(rec, now);
    log::info("reply on ", to_string(channel), " from an unknown sender recorded unmatched");
    return out;
  }
  rec.recipient_id = person->id;
  const std::vector<OpenAck> open = store.open_acks(person->id, now);
  std::vector<std::string> codes;
  for (const auto& o : open) codes.push_back(o.code);
  const ParsedReply parsed = parse_reply(text);
  const Resolution r = resolve(parsed, codes);
  out.outcome = std::string(outcome_name(r.outcome));
  if (r.outcome == Resolution::Outcome::matched || r.outcome == Resolution::Outcome::no_code_single) {
    for (const auto& o : open)
      if (o.code == r.code) out.directive_id = o.directive_id;
    AckOutcome a = store.acknowledge(out.directive_id, person->id, channel, text,
                                     "reply:" + std::string(to_string(channel)), now);
    if (a.already) out.outcome = "already";
    rec.directive_id = out.directive_id;
    rec.detail = r.outcome == Resolution::Outcome::matched ? "code " + r.code : "no code; the only open directive";
    log::info(person->id, " acknowledged ", out.directive_id, " by ", to_string(channel), " reply");
  } else if (r.outcome != Resolution::Outcome::none_open || parsed.kind == ParsedReply::Kind::ack) {
    // Ambiguous, an unknown code, or not an acknowledgement: say how to acknowledge.
    out.answer = help_text(codes, /*unaccented=*/channel == Channel::sms);
    rec.detail = codes.empty() ? "no open directive" : "open: " + std::to_string(codes.size());
  }
  rec.outcome = out.outcome;
  store.record_reply(rec, now);
  if (channel == Channel::zalo && !out.answer.empty() && !open.empty()) {
    // Zalo has no answer-in-the-response like Kannel's sms-service: the help goes out as
    // an OA message, a delivery of the newest open directive with the text as its note.
    PlannedDelivery help{"person", person->id, person->name, Channel::zalo, sender, DeliveryState::queued,
                         {}, {}, {}, 0, Purpose::help, out.answer};
    store.add_followup(open.front().directive_id, "help:" + sender + ":" + std::to_string(now), {help}, now);
    out.queued_help = true;
  }
  return out;
}

}  // namespace herald::acks
