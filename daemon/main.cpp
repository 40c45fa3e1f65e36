// heraldd: takes directives from RabbitMQ into the store and serves the HTTP listener.
#include <atomic>
#include <cstring>
#include <iostream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "acks/followups.hpp"
#include "config/config.hpp"
#include "core/random.hpp"
#include "core/time.hpp"
#include "dispatch/dispatcher.hpp"
#include "net/curl_multi.hpp"
#include "core/log.hpp"
#include "core/systemd.hpp"
#include "http/server.hpp"
#include "intake/consumer.hpp"
#include "intake/intake.hpp"
#include "loudspeaker/announcer.hpp"
#include "store/store.hpp"
#include "store/writer.hpp"

namespace {

// How long a clean stop waits for the answers of sends in flight (systemd's
// TimeoutStopSec is longer).
constexpr int64_t kShutdownDrainMs = 10'000;

int usage(const char* argv0) {
  std::cerr << "usage: " << argv0 << " --config FILE [--check-config] [--verbose]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace herald;
  curl_global_init(CURL_GLOBAL_DEFAULT);  // before any thread starts
  std::string config_path;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) config_path = argv[++i];
    else if (a.rfind("--config=", 0) == 0) config_path = a.substr(9);
    else if (a == "--check-config") check_only = true;
    else if (a == "--verbose") log::set_min_level(log::Level::debug);
    else if (a == "--help" || a == "-h") { usage(argv[0]); return 0; }
    else return usage(argv[0]);
  }
  if (config_path.empty()) return usage(argv[0]);

  ConfigLoad load = load_config(config_path);
  if (!load.config) {
    for (const auto& e : load.errors) std::cerr << e.str() << "\n";
    if (load.errors.empty()) std::cerr << config_path << ":1:1: configuration is incomplete\n";
    return 1;
  }
  const Config& cfg = *load.config;
  if (check_only) {
    const auto& dir = *cfg.directory;
    std::cout << config_path << ": OK (" << dir.groups().size() << " groups, " << dir.people().size()
              << " people, " << dir.zones().size() << " zones)\n";
    return 0;
  }

  std::unique_ptr<Store> store;
  try {
    if (cfg.store.backend == "postgres")
      store = open_postgres_store(cfg.store.conninfo.reveal(), {cfg.store.instance, cfg.store.lease_ms});
    else
      store = open_sqlite_store(cfg.store.path, cfg.store.busy_timeout_ms);
  } catch (const std::exception& e) {
    log::error("cannot open the store: ", e.what());
    return 1;
  }
  if (store->shared())
    log::info("store open: PostgreSQL, shared as instance '", cfg.store.instance, "' (lease ",
              cfg.store.lease_ms, " ms)");
  else
    log::info("store open: ", cfg.store.path);

  Metrics metrics;
  std::shared_ptr<const Directory> directory = cfg.directory;
  Intake intake(*store, [&] { return std::atomic_load(&directory); }, cfg, metrics);
  DirectiveConsumer consumer(cfg.broker, intake, metrics);

  boost::asio::io_context io(1);
  net::CurlMulti curl(io);
  // The dispatcher's claims and outcomes and the receipts' updates, committed in batches
  // on a thread of their own.
  StoreWriter writer(*store, io);
  Dispatcher dispatcher(io, *store, writer, curl, cfg, metrics);
  intake.on_committed([&] { dispatcher.kick(); });
  intake.on_store_error([&writer](const StoreError& e) { writer.note(e); });
  auto current_directory = [&] { return std::atomic_load(&directory); };
  // A corrected contact is used from the next send (a replay, say) without a restart.
  // A refused file leaves the current directory in use.
  std::function<std::vector<std::string>()> reload_directory = [&]() -> std::vector<std::string> {
    if (cfg.directory_file.empty()) return {cfg.file + ": the directory is inline in the config: restart to change it"};
    // systemd shows the unit "reloading" meanwhile; READY=1 again when done, refused or not.
    systemd::notify_reloading();
    struct Reloaded { ~Reloaded() { systemd::notify("READY=1\nSTATUS=taking in directives"); } } reloaded;
    std::vector<ConfigError> errors;
    auto fresh = load_directory(cfg.directory_file, errors);
    std::vector<std::string> out;
    for (const auto& e : errors) out.push_back(e.str());
    if (!fresh) {
      if (out.empty()) out.push_back(cfg.directory_file + ": cannot be read");
      for (const auto& e : out) log::error("directory reload refused: ", e);
      return out;
    }
    log::info("directory reloaded: ", fresh->groups().size(), " groups, ", fresh->people().size(), " people, ",
              fresh->zones().size(), " zones");
    std::atomic_store(&directory, std::shared_ptr<const Directory>(std::make_shared<Directory>(std::move(*fresh))));
    return {};
  };
  // Spoken audio for the loudspeakers and the CAP feed, rendered off the event loop.
  std::unique_ptr<loudspeaker::AudioCache> audio;
  std::unique_ptr<loudspeaker::Announcer> announcer;
  // No audio folder: the loudspeaker channel is off and the store has no folder to put
  // one beside (PostgreSQL); nothing is read aloud.
  if (!cfg.loudspeaker().audio_dir.empty()) try {
    audio = std::make_unique<loudspeaker::AudioCache>(io, cfg.loudspeaker().audio_dir,
                                                      loudspeaker::audio_options(cfg.loudspeaker()));
    announcer = std::make_unique<loudspeaker::Announcer>(*audio, cfg.loudspeaker(), cfg.dispatch.public_url);
    dispatcher.set_announcer(announcer.get(), current_directory);
  } catch (const std::exception& e) {
    log::error("loudspeaker audio unavailable (", cfg.loudspeaker().audio_dir, "): ", e.what());
    return 1;
  }
  // Ack links are signed with a secret of this installation, made once and kept in the
  // store (every instance sharing the store checks the same links).
  std::string ack_secret;
  try {
    // Instances starting together on a new store: the first secret kept wins for all.
    ack_secret = store->keep_first_gateway_state("acks", "link_secret", random_token(32));
    if (ack_secret.size() < 32) {
      ack_secret = random_token(32);
      store->put_gateway_state("acks", {{"link_secret", ack_secret}});
    }
  } catch (const StoreError& e) {
    log::error("cannot keep the ack link secret: ", e.what());
    return 1;
  }
  dispatcher.set_ack_secret(ack_secret);
  http::ApiContext api{*store, metrics, cfg.http, [&] { return consumer.connected(); },
                       &cfg.gateways, [&] { return dispatcher.metrics_text(); },
                       &cfg, current_directory, announcer.get(), ack_secret, [&] { dispatcher.kick(); },
                       [&](std::string_view body) { return intake.take(body); },
                       [&] { return reload_directory(); }, &writer};
  http::Server server(io, cfg.http, api);
  try {
    server.start();
  } catch (const std::exception& e) {
    log::error("cannot listen on ", cfg.http.address, ":", cfg.http.port, ": ", e.what());
    return 1;
  }

  // READY=1 once the store is open, the listener bound and the consumer thread running;
  // the broker may still be unreachable then (readiness shows that), and heraldd keeps
  // retrying rather than failing the start.
  try {
    dispatcher.start();
  } catch (const StoreError& e) {
    log::error("cannot resume dispatch: ", e.what());
    return 1;
  }
  consumer.start();
  systemd::notify("READY=1\nSTATUS=taking in directives");

  // Watchdog keep-alives come from the event loop itself, so a wedged loop is noticed;
  // and they stop while the store writer has been stuck in one batch for half the interval
  // or more (a hung disk; with a busy timeout that long, a lock held elsewhere): sends and
  // receipts would then go unrecorded, and systemd restarts heraldd within one interval.
  boost::asio::steady_timer watchdog(io);
  std::function<void()> kick;
  if (auto interval = systemd::watchdog_interval()) {
    kick = [&, half = *interval / 2] {
      if (auto busy = writer.busy_for(); busy < half) {
        systemd::notify("WATCHDOG=1");
      } else {
        log::error("store writer stuck in one batch for ", std::chrono::duration<double>(busy).count(),
                   " s: watchdog keep-alive withheld");
      }
      watchdog.expires_after(half);
      watchdog.async_wait([&](const boost::system::error_code& ec) { if (!ec) kick(); });
    };
    kick();
  }

  // Reminders before acknowledgement deadlines and escalation after them. The pass reads
  // and writes the store on a thread of its own, so that a store busy elsewhere (a large
  // intake, a lock, PostgreSQL reconnecting) never stalls the loop; the loop's timer
  // starts the next pass once this one is done.
  boost::asio::thread_pool followup_thread(1);
  boost::asio::steady_timer followups(io);
  std::atomic<bool> stopping{false};
  std::function<void()> follow_up = [&] {
    boost::asio::post(followup_thread, [&] {
      try {
        if (!stopping && acks::run_followups(*store, *current_directory(), cfg.acks, now_ms()) > 0)
          dispatcher.kick();
      } catch (const StoreError& e) {
        ++metrics.store_errors;
        log::error("ack follow-ups: store: ", e.what());
      }
      boost::asio::post(io, [&] {
        if (stopping) return;
        followups.expires_after(std::chrono::milliseconds(cfg.acks.check_interval_ms));
        followups.async_wait([&](const boost::system::error_code& ec) { if (!ec) follow_up(); });
      });
    });
  };
  follow_up();

  boost::asio::signal_set hangup(io, SIGHUP);
  std::function<void()> on_hangup = [&] {
    hangup.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      log::info("SIGHUP: reloading the directory");
      reload_directory();
      on_hangup();
    });
  };
  on_hangup();

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int sig) {
    log::info("signal ", strsignal(sig), ": shutting down");
    systemd::notify("STOPPING=1");
    server.stop();
    dispatcher.stop();
    watchdog.cancel();
    stopping = true;
    followups.cancel();
    hangup.cancel();
    // Sends already on the wire get their answers recorded, so that a clean restart
    // (systemctl restart, an upgrade) sends nothing twice.
    dispatcher.drain([&] { io.stop(); }, kShutdownDrainMs);
  });
  ::signal(SIGPIPE, SIG_IGN);

  io.run();
  followup_thread.join();  // a pass under way ends before the store goes
  writer.stop();  // what is queued (outcomes of finished sends) is committed first
  consumer.stop();
  log::info("stopped");
  return 0;
}
