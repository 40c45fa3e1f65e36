#include "dispatch/credentials.hpp"

#include "core/log.hpp"

namespace herald {

void Credentials::restore(DispatchStore& store) {
  seen_ = store.gateway_state(gateway_.name());
  gateway_.restore(seen_);
}

void Credentials::refresh(std::function<void(bool)> done) {
  if (refreshing_ || !gateway_.refresh_request()) return;
  refreshing_ = true;
  if (!shared_) {
    send_refresh(std::move(done));
    return;
  }
  // Several instances share the gateway's credentials, and a rotated refresh token is good
  // once: when another instance has refreshed them since this one last looked, its
  // credentials are taken instead of refreshing again.
  writer_.submit([name = gateway_.name()](Store& s) { return s.gateway_state(name); },
                 [this, done = std::move(done)](std::optional<std::map<std::string, std::string>>&& kept,
                                                const std::string& error) mutable {
                   if (error.empty() && kept && !kept->empty() && *kept != seen_) {
                     gateway_.restore(*kept);
                     seen_ = std::move(*kept);
                     log::info("gateway ", gateway_.name(), ": another instance refreshed the credentials");
                     refreshing_ = false;
                     ++generation_;
                     done(true);
                     return;
                   }
                   send_refresh(std::move(done));
                 });
}

void Credentials::send_refresh(std::function<void(bool)> done) {
  auto req = gateway_.refresh_request();
  if (!req) {
    refreshing_ = false;
    return;
  }
  log::info("gateway ", gateway_.name(), ": credentials expired, refreshing");
  curl_.perform(std::move(*req), [this, done = std::move(done)](net::HttpResponse&& resp) mutable {
    std::map<std::string, std::string> persist;
    const bool ok = gateway_.apply_refresh(resp, persist);
    // A rotated refresh token is only good once: keep the new one before using it.
    if (ok) seen_ = persist;
    writer_.submit(
        [name = gateway_.name(), persist = std::move(persist)](Store& s) {
          if (!persist.empty()) s.put_gateway_state(name, persist);
        },
        [this, ok, status = resp.status, done = std::move(done)](const std::string& error) {
          refreshed(ok, status, error, done);
        });
  });
}

void Credentials::refreshed(bool ok, long status, const std::string& error, const std::function<void(bool)>& done) {
  if (!error.empty()) {
    ++metrics_.store_errors;
    log::error("gateway ", gateway_.name(), ": cannot keep refreshed credentials: ", error);
  }
  refreshing_ = false;
  if (ok) {
    ++generation_;
    ++metrics_.credential_refreshes;
    log::info("gateway ", gateway_.name(), ": credentials refreshed");
  } else {
    log::error("gateway ", gateway_.name(), ": credential refresh failed (HTTP ", status, ")");
  }
  done(ok);
}

}  // namespace herald
