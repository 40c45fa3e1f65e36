#include "dispatch/outcomes.hpp"

#include <boost/asio/steady_timer.hpp>
#include <memory>

#include "core/log.hpp"
#include "core/time.hpp"

namespace herald {

void Outcomes::record(int64_t delivery_id, TransitionRequest t, Committed committed) {
  write(delivery_id, std::make_shared<const TransitionRequest>(std::move(t)),
        std::make_shared<Committed>(std::move(committed)), 0);
}

void Outcomes::write(int64_t delivery_id, std::shared_ptr<const TransitionRequest> t,
                     std::shared_ptr<Committed> committed, int tries) {
  writer_.submit([delivery_id, t](Store& s) { return s.transition(delivery_id, *t); },
                 [this, delivery_id, t, committed, tries](std::optional<TransitionResult>&& r,
                                                          const std::string& error) {
                   if (!error.empty()) {
                     ++metrics_.store_errors;
                     const int64_t wait = std::min<int64_t>(int64_t{250} << std::min(tries, 6), 10'000);
                     const int64_t now = now_ms();
                     if (now - logged_ms_ >= 1000) {
                       logged_ms_ = now;
                       log::error("dispatcher: cannot record the outcome of delivery ", delivery_id, ": ", error,
                                  "; kept in memory and written again (", waiting_ + 1, " waiting)");
                     }
                     ++waiting_;
                     auto timer = std::make_shared<boost::asio::steady_timer>(io_, std::chrono::milliseconds(wait));
                     timer->async_wait([this, timer, delivery_id, t, committed, tries](const boost::system::error_code&) {
                       --waiting_;
                       write(delivery_id, t, committed, tries + 1);
                     });
                     return;
                   }
                   if (tries > 0 && waiting_ == 0)
                     log::info("dispatcher: the store takes outcomes again; every outcome kept in memory is recorded");
                   if (*committed) (*committed)(*r);
                 });
}

void Outcomes::expire_unconfirmed(int64_t now, int64_t every_ms, std::function<void()> expired) {
  if (expiring_ || now < next_expiry_ms_) return;
  expiring_ = true;
  next_expiry_ms_ = now + every_ms;
  writer_.submit([now](Store& s) { return s.expire_unconfirmed(now); },
                 [this, expired = std::move(expired)](std::optional<size_t>&& n, const std::string& error) {
                   expiring_ = false;
                   if (!error.empty()) {
                     ++metrics_.store_errors;
                     log::error("dispatcher: store: ", error);
                   } else if (*n) {
                     log::info(*n, " deliveries got no receipt in time; trying their next channel");
                     expired();
                   }
                 });
}

}  // namespace herald
