#include "store/lease.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <chrono>

#include "core/log.hpp"
#include "core/time.hpp"

namespace herald {

namespace asio = boost::asio;

namespace {

// A Prometheus label value: backslash, double quote and newline escaped.
std::string label_value(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

Lease::Lease(LeaseStore& store, StoreWriter& writer, asio::io_context& loop, Metrics& metrics, std::string instance,
             int64_t lease_ms, int64_t resume_grace_ms)
    : store_(store), writer_(writer), loop_(loop), metrics_(metrics), instance_(std::move(instance)),
      lease_ms_(lease_ms), resume_grace_ms_(resume_grace_ms), renewed_ms_(steady_ms()) {}  // opening the store renewed it

Lease::~Lease() {
  // A renewal or a rate request under way ends before the members it uses go.
  control_.stop();
  control_.join();
}

int64_t Lease::steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Lease::start(std::function<void()> renewed, std::function<void()> taken_over) {
  renewed_ = std::move(renewed);
  taken_over_ = std::move(taken_over);
  asio::post(control_, [this] { tick(); });
}

void Lease::stop() {
  stopping_ = true;
  asio::post(control_, [this] { timer_.cancel(); });
}

bool Lease::held() const { return steady_ms() - renewed_ms_ < lease_ms_ / 2; }

int64_t Lease::silent_ms() const { return steady_ms() - renewed_ms_; }

void Lease::tick() {
  if (stopping_) return;
  const int64_t asked = steady_ms();
  try {
    store_.renew_lease(now_ms());
    renewed_ms_ = std::max(renewed_ms_.load(), asked);
    asio::post(loop_, [this] { renewed_(); });
  } catch (const StoreError& e) {
    ++metrics_.store_errors;
    log::error("store: cannot renew this instance's lease: ", e.what());
  }
  // Claims of instances that stopped renewing theirs come back as due work.
  if (!taking_over_.exchange(true)) {
    writer_.submit([grace = resume_grace_ms_](Store& s) { return s.take_over(now_ms(), grace); },
                   [this](std::optional<size_t>&& n, const std::string& error) {
                     taking_over_ = false;
                     if (!error.empty()) {
                       ++metrics_.store_errors;
                       log::error("store: take-over: ", error);
                     } else if (*n) {
                       log::warning(*n, " deliveries claimed by an instance whose lease ran out are taken over; "
                                        "they are resent after ", resume_grace_ms_,
                                    " ms unless their receipts arrive first");
                       taken_over_();
                     }
                   });
  }
  timer_.expires_after(std::chrono::milliseconds(std::max<int64_t>(lease_ms_ / 3, 100)));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) tick();
  });
}

std::string Lease::metrics_text() const {
  return "# HELP herald_instance_lease_age_ms Since this instance last renewed its lease in the shared store.\n"
         "# TYPE herald_instance_lease_age_ms gauge\n"
         "herald_instance_lease_age_ms{instance=\"" + label_value(instance_) + "\"} " +
         std::to_string(silent_ms()) + "\n";
}

void SharedRate::top_up(int64_t now, std::function<void()> granted) {
  const int64_t chunk = std::max<int64_t>(1, static_cast<int64_t>(rate_ / 5));
  if (asking_ || now < ask_at_ms_ || tokens_ * 2 > chunk) return;
  asking_ = true;
  const int64_t want = chunk - tokens_;
  asio::post(lease_.control_, [this, want, granted = std::move(granted)]() mutable {
    int64_t got = 0;
    std::string error;
    try {
      got = lease_.store_.take_rate_tokens(gateway_, want, rate_, std::max(1.0, rate_ / 2));
    } catch (const StoreError& e) {
      error = e.what();
    }
    asio::post(lease_.loop_, [this, want, got, error, granted = std::move(granted)] {
      asking_ = false;
      tokens_ += got;
      if (!error.empty()) {
        ++lease_.metrics_.store_errors;
        log::error("store: gateway ", gateway_, "'s shared rate: ", error);
      }
      // Short: until what was missing has been refilled (other instances take some too).
      if (got < want)
        ask_at_ms_ = now_ms() + std::clamp<int64_t>(static_cast<int64_t>(1000.0 * static_cast<double>(want - got) / rate_),
                                                    20, 500);
      granted();
    });
  });
}

}  // namespace herald
