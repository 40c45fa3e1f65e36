#include "receipts/receipts.hpp"

#include <algorithm>

#include "settings/redact.hpp"
#include "store/writer.hpp"

namespace herald::receipts {

namespace {

bool allowed(const std::vector<std::string>& gateways, const std::string& gateway) {
  return std::find(gateways.begin(), gateways.end(), gateway) != gateways.end();
}

// What the store records for `r`: the provider's words are kept and shown by the API,
// scrubbed of secrets first (a provider may quote the request it got).
TransitionRequest transition_for(const Receipt& r, const std::string& gateway) {
  TransitionRequest t;
  t.to = r.state;
  t.cause = Cause::receipt;
  t.source = "receipt:" + gateway;
  t.record_unchanged = false;
  t.detail = redact_secrets(!r.event.empty() ? r.event
                                             : "status " + r.status + (r.detail.empty() ? "" : " (" + r.detail + ")"));
  if (!r.error_code.empty()) {
    t.error_code = r.error_code;
    t.error_text = redact_secrets(r.detail.empty() ? "provider status " + r.status : r.detail);
  } else if (progress_rank(r.state) > 0) {
    // It got through: an earlier failure (a segment, an attempt) no longer describes the
    // delivery; the event log keeps it.
    t.error_code = std::string();
  }
  if (!r.provider_ref.empty()) t.provider_ref = r.provider_ref;
  return t;
}

}  // namespace

Outcome apply(ReceiptStore& store, const Receipt& r, const std::vector<std::string>& gateways) {
  std::optional<DeliveryRow> row;
  if (r.find_by_ref && !r.provider_ref.empty())
    for (const auto& g : gateways)
      if ((row = store.delivery_by_provider_ref(g, r.provider_ref))) break;
  // The token is the credential: it names a delivery only of a gateway allowed to report.
  if (!row && !r.token.empty())
    if (auto t = store.delivery_by_token(r.token); t && allowed(gateways, t->gateway)) row = std::move(t);
  if (!row) return {};
  auto result = store.apply_receipt(row->id, transition_for(r, row->gateway), r.once);
  if (!result) return {Outcome::Kind::duplicate, row->id, row->state};
  return {result->applied ? Outcome::Kind::applied : Outcome::Kind::unchanged, row->id, result->state};
}

bool known(ReceiptStore& store, const std::string& token, const std::string& gateway) {
  auto row = store.delivery_by_token(token);
  return row && row->gateway == gateway;
}

void Applier::apply(std::vector<Receipt> receipts, std::vector<std::string> gateways, Done done) {
  auto work = [receipts = std::move(receipts), gateways = std::move(gateways)](Store& s) {
    std::vector<Outcome> out;
    out.reserve(receipts.size());
    for (const Receipt& r : receipts) out.push_back(receipts::apply(s, r, gateways));
    return out;
  };
  run_store_work(writer_, store_, std::move(work),
                 [done = std::move(done)](std::optional<std::vector<Outcome>>&& out, const std::string& error) {
                   done(out ? std::move(*out) : std::vector<Outcome>{}, error);
                 });
}

void Applier::known(std::string token, std::string gateway, std::function<void(bool, const std::string&)> done) {
  run_store_work(
      writer_, store_,
      [token = std::move(token), gateway = std::move(gateway)](Store& s) { return receipts::known(s, token, gateway); },
      [done = std::move(done)](std::optional<bool>&& found, const std::string& error) {
        done(found.value_or(false), error);
      });
}

}  // namespace herald::receipts
