#pragma once
// A gateway's rotating credentials (Zalo's access and refresh tokens): restored from the
// store at start; renewed once however many sends found them expired; the new ones kept
// in the store before they are used, since a rotated refresh token is good once. With
// several instances on one store, one that finds the stored credentials newer than its
// own takes them instead of refreshing (which would spend a token another already spent).
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "adapters/gateway.hpp"
#include "core/metrics.hpp"
#include "net/curl_multi.hpp"
#include "store/writer.hpp"

namespace herald {

class Credentials {
 public:
  /// `shared`: other instances use the same store.
  Credentials(Gateway& gateway, StoreWriter& writer, net::CurlMulti& curl, Metrics& metrics, bool shared)
      : gateway_(gateway), writer_(writer), curl_(curl), metrics_(metrics), shared_(shared) {}

  /// The credentials the store kept (at start, before the first send).
  void restore(DispatchStore& store);
  /// True while a refresh is under way: the gateway sends nothing meanwhile.
  bool refreshing() const { return refreshing_; }
  /// Which credentials a send used: it changes with every refresh, so that an answer to a
  /// send made before the last one does not ask for another.
  uint64_t generation() const { return generation_; }
  /// Renews the credentials, unless a refresh is under way or the gateway has none to
  /// renew. `done(ok)` runs on the event loop once the new ones are in place (ok), or the
  /// refresh failed.
  void refresh(std::function<void(bool ok)> done);

 private:
  void send_refresh(std::function<void(bool)> done);
  void refreshed(bool ok, long status, const std::string& store_error, const std::function<void(bool)>& done);

  Gateway& gateway_;
  StoreWriter& writer_;
  net::CurlMulti& curl_;
  Metrics& metrics_;
  const bool shared_;
  bool refreshing_ = false;
  uint64_t generation_ = 0;                 // refreshes that succeeded
  std::map<std::string, std::string> seen_;  // what the store held when last read or written
};

}  // namespace herald
