#include "intake/intake.hpp"

#include "core/log.hpp"
#include "planner/planner.hpp"

namespace herald {

IntakeResult Intake::take(std::string_view body) {
  ++metrics_.directives_received;
  DirectiveParse parsed = parse_directive(body, config_.intake.max_directive_bytes);
  if (!parsed.directive) {
    ++metrics_.directives_rejected_invalid;
    std::string reason = "invalid directive: " + parsed.summary();
    log::warning("rejected directive ", parsed.id.empty() ? "(no id)" : parsed.id, ": ", reason);
    return {IntakeResult::Kind::rejected, parsed.id, reason, 0};
  }
  const Directive& d = *parsed.directive;
  std::optional<Store::TakenIn> first;
  try {
    // A repeat is recognised before planning: the directory may have changed since the
    // first copy was taken in, and a repeat must never be refused for that.
    first = store_.taken_in(d.id);
    if (first && first->complete) {
      ++metrics_.directives_duplicate;
      if (first->raw != body)
        log::warning("directive ", d.id, " arrived again with different content; the first "
                     "version stands (publish a new id to change it)");
      else
        log::info("directive ", d.id, " already taken in; nothing added");
      return {IntakeResult::Kind::duplicate, d.id, {}, 0};
    }
  } catch (const StoreError& e) {
    ++metrics_.store_errors;
    if (on_store_error_) on_store_error_(e);
    log::error("store failed for directive ", d.id, ": ", e.what(), "; will retry");
    return {IntakeResult::Kind::retry, d.id, e.what(), 0};
  }
  auto directory = directory_();
  Resolution who = resolve_recipients(d, *directory);
  if (!who.errors.empty() && first && first->raw == body) {
    // Partly taken in before a stop, and the directory changed since: it was accepted
    // then, so the rest is planned for whom the directory still knows.
    DirectiveParse p;
    p.errors = who.errors;
    log::warning("directive ", d.id, ": finishing its intake without what the directory no longer knows: ",
                 p.summary());
    who.errors.clear();
  }
  if (!who.errors.empty()) {
    ++metrics_.directives_rejected_unresolved;
    DirectiveParse p;
    p.errors = who.errors;
    std::string reason = "unresolved recipients: " + p.summary();
    log::warning("rejected directive ", d.id, ": ", reason);
    return {IntakeResult::Kind::rejected, d.id, reason, 0};
  }
  try {
    // Planned straight into the store's transaction, one delivery at a time.
    // The first part is committed after 1,000 deliveries and the dispatcher starts on it
    // while the rest is planned.
    IntakeOutcome out = store_.commit_directive(
        d, body,
        [&](const std::function<void(const PlannedDelivery&)>& emit) { plan_deliveries(d, *directory, config_, who, emit); },
        [&] {
          if (on_committed_) on_committed_();
        });
    if (!out.created) {
      ++metrics_.directives_duplicate;
      if (!out.same_content)
        log::warning("directive ", d.id, " arrived again with different content; the first "
                     "version stands (publish a new id to change it)");
      else
        log::info("directive ", d.id, " already taken in; nothing added");
      return {IntakeResult::Kind::duplicate, d.id, {}, 0};
    }
    ++metrics_.directives_created;
    metrics_.deliveries_planned += out.deliveries;
    log::info(out.resumed ? "finished taking in " : "took in ", d.id, " (", d.number, "): ", out.deliveries,
              " deliveries");
    if (on_committed_) on_committed_();
    return {IntakeResult::Kind::committed, d.id, {}, out.deliveries};
  } catch (const StoreError& e) {
    ++metrics_.store_errors;
    if (on_store_error_) on_store_error_(e);
    log::error("store failed for directive ", d.id, ": ", e.what(), "; will retry");
    return {IntakeResult::Kind::retry, d.id, e.what(), 0};
  }
}

size_t Intake::resume() {
  size_t n = 0;
  for (const std::string& id : store_.unfinished_intakes()) {
    auto kept = store_.taken_in(id);
    if (!kept || kept->complete) continue;  // finished meanwhile (the broker's copy)
    log::info("directive ", id, ": finishing an intake a stop cut short");
    IntakeResult r = take(kept->raw);
    if (r.kind == IntakeResult::Kind::retry) throw StoreError(r.reason);
    ++n;
  }
  return n;
}

}  // namespace herald
