// Receipts' part of the store: finding the delivery a provider reports on, and applying
// its report (once, when the provider may post it again).
#include "core/compare.hpp"
#include "core/time.hpp"
#include "store/sql_store.hpp"

namespace herald {

std::optional<DeliveryRow> SqlStore::delivery_by_token(const std::string& token) {
  std::lock_guard lock(mu_);
  // The token is a credential. An index lookup by the whole token would compare it byte
  // by byte, and its timing would tell how much of a guess was right. The index is asked
  // for the first half only (a selector: timing it reveals nothing that helps with the
  // rest), and the whole token is then compared in constant time.
  if (token.size() < 16) return std::nullopt;
  const std::string selector = token.substr(0, 16);
  static const std::string kByToken =
      std::string(kDeliverySelect).replace(std::string(kDeliverySelect).rfind(" FROM "), 0, ", token") +
      " WHERE token >= ?1 AND token < ?2";
  Statement q(*db_, kByToken);
  q.bind(1, selector);
  q.bind(2, selector + "\x7f");
  while (q.step())
    if (constant_time_equal(q.text(15), token)) return delivery_row(q);
  return std::nullopt;
}

std::optional<DeliveryRow> SqlStore::delivery_by_provider_ref(const std::string& gateway,
                                                              const std::string& ref) {
  if (ref.empty()) return std::nullopt;
  std::lock_guard lock(mu_);
  Statement q(*db_, sql::text({kDeliverySelect,
                       " WHERE gateway = ?1 AND provider_ref = ?2"
                       " AND provider_ref <> '' ORDER BY id DESC LIMIT 1"}));
  q.bind(1, gateway).bind(2, ref);
  if (!q.step()) return std::nullopt;
  return delivery_row(q);
}

std::optional<TransitionResult> SqlStore::apply_receipt(int64_t id, const TransitionRequest& t,
                                                       const std::string& once) {
  std::lock_guard lock(mu_);
  check_batch();
  Transaction tx(*db_);
  const int64_t now = now_ms();
  if (!once.empty()) {
    Statement seen(*db_, "INSERT INTO receipt_keys(key, at_ms) VALUES (?1, ?2) ON CONFLICT DO NOTHING");
    seen.bind(1, once).bind(2, now);
    seen.run();
    if (db_->changes() == 0) return std::nullopt;  // rolls back: nothing new
    // The keys only need to outlive the provider's resending.
    Statement prune(*db_, "DELETE FROM receipt_keys WHERE at_ms < ?1");
    prune.bind(1, now - kReceiptKeyKeepMs);
    prune.run();
  }
  TransitionResult r = transition_locked(id, t, now);
  tx.commit();
  return r;
}

}  // namespace herald
