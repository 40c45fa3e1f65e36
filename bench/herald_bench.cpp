// herald-bench: the two halves of a send, each alone, to show where the fan-out's ceiling
// is on this machine (scripts/bench runs it; nothing here is a test).
//   herald-bench curl URL COUNT CONCURRENCY BODY_FILE
//       posts COUNT requests through Herald's own libcurl multi client (net/curl_multi),
//       CONCURRENCY at a time: the transport alone, no store.
//   herald-bench store DIR COUNT BATCH
//       the store work of COUNT sends, no network: one directive of COUNT deliveries
//       committed, then claimed BATCH at a time and each recorded `sent`, through the
//       store writer exactly as the dispatcher does it.
// Each prints one JSON line: {"count":..,"seconds":..,"per_s":..}.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/time.hpp"
#include "net/curl_multi.hpp"
#include "store/store.hpp"
#include "store/writer.hpp"

using namespace herald;
namespace asio = boost::asio;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void report(size_t count, double seconds, size_t failed = 0) {
  std::printf("{\"count\": %zu, \"seconds\": %.4f, \"per_s\": %.1f, \"failed\": %zu}\n", count, seconds,
              static_cast<double>(count) / seconds, failed);
}

int run_curl(const std::string& url, size_t count, size_t concurrency, const std::string& body_file) {
  std::ifstream f(body_file);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string body = ss.str();
  asio::io_context io(1);
  net::CurlMulti curl(io, static_cast<long>(concurrency));
  size_t started = 0, finished = 0, failed = 0;
  std::function<void()> start_one = [&] {
    net::HttpRequest req;
    req.url = url;
    req.body = body;
    req.headers = {"Content-Type: application/json"};
    ++started;
    curl.perform(std::move(req), [&](net::HttpResponse&& r) {
      ++finished;
      if (r.result != CURLE_OK || r.status != 200) ++failed;
      if (started < count) start_one();
    });
  };
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < concurrency && started < count; ++i) start_one();
  while (finished < count) io.run_one();
  report(count, seconds_since(t0), failed);
  return failed ? 1 : 0;
}

int run_store(const std::string& dir, size_t count, size_t batch) {
  auto store = open_sqlite_store(dir + "/bench.db");
  Directive d;
  d.id = "bench/store";
  d.number = "1-TB";
  d.issuer_code = "UBND";
  d.issuer_name = "UBND";
  d.issued_at = "2026-11-29T08:00:00+07:00";
  d.subject = "bench";
  d.urgency = Urgency::khan;
  const std::string raw = "{}";
  store->commit_directive(d, raw, [&](const std::function<void(const PlannedDelivery&)>& emit) {
    PlannedDelivery p{"person", {}, "Cán bộ", Channel::sms, {}, DeliveryState::queued, {}, {}, {}, 0, Purpose::directive, {}};
    for (size_t i = 0; i < count; ++i) {
      p.recipient_id = "p" + std::to_string(i);
      p.address = "+8490" + std::to_string(1000000 + i);
      emit(p);
    }
  });
  asio::io_context io(1);
  auto guard = asio::make_work_guard(io);
  StoreWriter writer(*store, io);
  size_t recorded = 0, failed = 0;
  bool claiming = false, drained = false;
  const auto t0 = std::chrono::steady_clock::now();
  std::function<void()> claim = [&] {
    claiming = true;
    writer.submit([&](Store& s) { return s.claim_due(Channel::sms, "bench", now_ms(), batch); },
                  [&](std::optional<std::vector<ClaimedDelivery>>&& c, const std::string& error) {
                    claiming = false;
                    if (!error.empty() || c->empty()) {
                      drained = true;
                      return;
                    }
                    for (const auto& cd : *c) {
                      TransitionRequest t{DeliveryState::sent, Cause::gateway_accepted, "gateway:bench", "accepted",
                                          std::string(), {}, std::string("accepted"), {}};
                      writer.submit([id = cd.id, t](Store& s) { return s.transition(id, t); },
                                    [&](std::optional<TransitionResult>&& r, const std::string& e) {
                                      ++recorded;
                                      if (!e.empty() || !r->applied) ++failed;
                                    });
                    }
                    claim();
                  });
  };
  claim();
  while (recorded < count && !(drained && recorded >= count)) io.run_one();
  report(count, seconds_since(t0), failed);
  writer.stop();
  return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "curl" && argc == 6)
    return run_curl(argv[2], std::stoul(argv[3]), std::stoul(argv[4]), argv[5]);
  if (mode == "store" && argc == 5) return run_store(argv[2], std::stoul(argv[3]), std::stoul(argv[4]));
  std::cerr << "usage: herald-bench curl URL COUNT CONCURRENCY BODY_FILE\n"
               "       herald-bench store DIR COUNT BATCH\n";
  return 2;
}
