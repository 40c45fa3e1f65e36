// heraldd: takes directives from RabbitMQ into the store, sends them, and takes receipts
// and replies over HTTP. main() reads the command line and the configuration; Heraldd
// holds the running parts, builds them in order by named steps, and stops them in reverse
// (members are declared in the order they are built, so they are destroyed the other way).
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "acks/followups.hpp"
#include "adapters/registry.hpp"
#include "config/config.hpp"
#include "core/log.hpp"
#include "core/random.hpp"
#include "core/systemd.hpp"
#include "core/time.hpp"
#include "dispatch/dispatcher.hpp"
#include "http/server.hpp"
#include "intake/consumer.hpp"
#include "intake/intake.hpp"
#include "operations/operations.hpp"
#include "loudspeaker/announcer.hpp"
#include "net/curl_multi.hpp"
#include "store/store.hpp"
#include "store/writer.hpp"

namespace {

using namespace herald;
namespace asio = boost::asio;

// How long a clean stop waits for the answers of sends in flight (systemd's
// TimeoutStopSec is longer).
constexpr int64_t kShutdownDrainMs = 10'000;

class Heraldd {
 public:
  explicit Heraldd(const Config& cfg) : cfg_(cfg), directory_(cfg.directory) {}

  /// Builds every part, runs until SIGINT or SIGTERM, stops; 1 when it could not start.
  int run() {
    if (!open_store() || !build_gateways()) return 1;
    take_in();
    if (!start_loudspeakers() || !keep_ack_secret() || !serve_http()) return 1;
    // READY=1 once the store is open, the listener bound and the consumer thread running;
    // the broker may still be unreachable then (readiness shows that), and heraldd keeps
    // retrying rather than failing the start.
    try {
      dispatcher_->start();
    } catch (const StoreError& e) {
      log::error("cannot resume dispatch: ", e.what());
      return 1;
    }
    if (!resume_operations()) return 1;
    consumer_->start();
    systemd::notify("READY=1\nSTATUS=taking in directives");
    keep_watchdog_fed();
    follow_up();
    reload_on_hangup();
    stop_on_signal();
    ::signal(SIGPIPE, SIG_IGN);
    io_.run();
    followup_thread_.join();  // a pass under way ends before the store goes
    workers_.join();          // so does every request being answered
    intake_thread_.join();    // and an API publish (finished at the next start if cut short)
    writer_->stop();          // what is queued (outcomes of finished sends) is committed first
    consumer_->stop();
    log::info("stopped");
    return 0;
  }

 private:
  std::shared_ptr<const Directory> directory() const { return std::atomic_load(&directory_); }

  bool open_store() {
    try {
      if (cfg_.store.backend == "postgres")
        store_ = open_postgres_store(cfg_.store.conninfo.reveal(), {cfg_.store.instance, cfg_.store.lease_ms});
      else
        store_ = open_sqlite_store(cfg_.store.path, cfg_.store.busy_timeout_ms);
    } catch (const std::exception& e) {
      log::error("cannot open the store: ", e.what());
      return false;
    }
    if (store_->shared())
      log::info("store open: PostgreSQL, shared as instance '", cfg_.store.instance, "' (lease ", cfg_.store.lease_ms,
                " ms)");
    else
      log::info("store open: ", cfg_.store.path);
    if (!seal_store_secrets()) return false;
    // The dispatcher's claims and outcomes and the receipts' updates, committed in batches
    // on a thread of their own.
    writer_ = std::make_unique<StoreWriter>(*store_, io_);
    return true;
  }

  // What the store keeps secret for heraldd (the ack links' signing secret, rotating
  // gateway tokens) is sealed with the store key when systemd passes one as the credential
  // `store-key` ($CREDENTIALS_DIRECTORY/store-key: LoadCredential= in the unit).
  bool seal_store_secrets() {
    const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
    const std::string path = dir ? std::string(dir) + "/store-key" : std::string();
    std::error_code ec;
    if (path.empty() || !std::filesystem::exists(path, ec)) {
      log::info("store secrets kept unsealed: no credential store-key");
      return true;
    }
    std::string error;
    auto seal = SecretSeal::from_file(path, error);
    if (!seal) {
      log::error("cannot read the store key: ", error);
      return false;
    }
    try {
      const size_t n = store_->seal_gateway_state(std::make_shared<const SecretSeal>(std::move(*seal)));
      log::info("store secrets sealed with the credential store-key",
                n > 0 ? "; " + std::to_string(n) + " kept unsealed before are sealed now" : std::string());
    } catch (const StoreError& e) {
      log::error("cannot seal the store's secrets: ", e.what());
      return false;
    }
    return true;
  }

  // The live gateways: built once, from the configuration's specs (their credentials
  // change as heraldd runs; the configuration does not).
  bool build_gateways() {
    try {
      gateways_ = make_gateways(cfg_);
    } catch (const std::exception& e) {
      log::error("cannot build the gateways: ", e.what());
      return false;
    }
    dispatcher_ = std::make_unique<Dispatcher>(io_, *store_, *writer_, curl_, cfg_, gateways_, metrics_);
    return true;
  }

  // Directives in from the broker; each committed one wakes the dispatcher.
  void take_in() {
    intake_ = std::make_unique<Intake>(*store_, [this] { return directory(); }, cfg_, metrics_);
    intake_->on_committed([this] { dispatcher_->kick(); });
    intake_->on_store_error([this](const StoreError& e) { writer_->note(e); });
    consumer_ = std::make_unique<DirectiveConsumer>(cfg_.broker, *intake_, metrics_);
  }

  // Spoken audio for the loudspeakers and the CAP feed, rendered off the event loop. No
  // audio folder: the loudspeaker channel is off and the store has no folder to put one
  // beside (PostgreSQL); nothing is read aloud.
  bool start_loudspeakers() {
    if (cfg_.loudspeaker().audio_dir.empty()) return true;
    try {
      audio_ = std::make_unique<loudspeaker::AudioCache>(io_, cfg_.loudspeaker().audio_dir,
                                                         loudspeaker::audio_options(cfg_.loudspeaker()));
      announcer_ = std::make_unique<loudspeaker::Announcer>(*audio_, cfg_.loudspeaker(), cfg_.dispatch.public_url);
    } catch (const std::exception& e) {
      log::error("loudspeaker audio unavailable (", cfg_.loudspeaker().audio_dir, "): ", e.what());
      return false;
    }
    dispatcher_->composer().set_announcer(announcer_.get(), [this] { return directory(); });
    return true;
  }

  // Ack links are signed with a secret of this installation, made once and kept in the
  // store: every instance sharing the store checks the same links.
  bool keep_ack_secret() {
    try {
      // Instances starting together on a new store: the first secret kept wins for all.
      ack_secret_ = store_->keep_first_gateway_state("acks", "link_secret", random_token(32));
      if (ack_secret_.size() < 32) {
        ack_secret_ = random_token(32);
        store_->put_gateway_state("acks", {{"link_secret", ack_secret_}});
      }
    } catch (const StoreError& e) {
      log::error("cannot keep the ack link secret: ", e.what());
      return false;
    }
    dispatcher_->composer().set_ack_secret(ack_secret_);
    return true;
  }

  // Cancels and replays a stop cut short go on in batches; directives whose intake it cut
  // short (published through the API: no broker delivers them again) are finished on the
  // intake's thread.
  bool resume_operations() {
    try {
      operations_->resume();
    } catch (const StoreError& e) {
      log::error("cannot resume cancels and replays: ", e.what());
      return false;
    }
    asio::post(intake_thread_, [this] {
      try {
        if (size_t n = intake_->resume(); n > 0) log::info(n, " directives' intake finished after a stop");
      } catch (const StoreError& e) {
        ++metrics_.store_errors;
        log::error("cannot finish the intakes a stop cut short: ", e.what(), "; the next start tries again");
      }
    });
    return true;
  }

  bool serve_http() {
    operations_ = std::make_unique<Operations>(*store_, writer_.get(), &io_, [this] { return directory(); },
                                               [this] { dispatcher_->kick(); });
    api_ = std::make_unique<http::ApiContext>(http::ApiContext{
        .store = *store_,
        .metrics = metrics_,
        .config = cfg_.http,
        .broker_connected = [this] { return consumer_->connected(); },
        .gateways = &gateways_,
        .extra_metrics = [this] { return dispatcher_->metrics_text(); },
        .app_config = &cfg_,
        .directory = [this] { return directory(); },
        .announcer = announcer_.get(),
        .ack_secret = ack_secret_,
        .on_queued = [this] { dispatcher_->kick(); },
        .publish =
            [this](std::string body, std::function<void(IntakeResult)> done) {
              asio::post(intake_thread_, [this, body = std::move(body), done = std::move(done)] { done(intake_->take(body)); });
            },
        .reload_directory = [this] { return reload_directory(); },
        .writer = writer_.get(),
        .operations = operations_.get(),
        .workers = &workers_,
        .downloads = std::make_shared<http::DownloadSlots>(cfg_.http.downloads_per_address),
    });
    server_ = std::make_unique<http::Server>(io_, cfg_.http, *api_);
    try {
      server_->start();
    } catch (const std::exception& e) {
      log::error("cannot listen on ", cfg_.http.address, ":", cfg_.http.port, ": ", e.what());
      return false;
    }
    return true;
  }

  // A corrected contact is used from the next send (a replay, say) without a restart. A
  // refused file leaves the current directory in use.
  std::vector<std::string> reload_directory() {
    if (cfg_.directory_file.empty()) return {cfg_.file + ": the directory is inline in the config: restart to change it"};
    // systemd shows the unit "reloading" meanwhile; READY=1 again when done, refused or not.
    systemd::notify_reloading();
    struct Reloaded {
      ~Reloaded() { systemd::notify("READY=1\nSTATUS=taking in directives"); }
    } reloaded;
    std::vector<ConfigError> errors;
    auto fresh = load_directory(cfg_.directory_file, errors);
    std::vector<std::string> out;
    for (const auto& e : errors) out.push_back(e.str());
    if (!fresh) {
      if (out.empty()) out.push_back(cfg_.directory_file + ": cannot be read");
      for (const auto& e : out) log::error("directory reload refused: ", e);
      return out;
    }
    log::info("directory reloaded: ", fresh->groups().size(), " groups, ", fresh->people().size(), " people, ",
              fresh->zones().size(), " zones");
    std::atomic_store(&directory_, std::shared_ptr<const Directory>(std::make_shared<Directory>(std::move(*fresh))));
    return {};
  }

  // Watchdog keep-alives come from the event loop itself, so a wedged loop is noticed; and
  // they stop while the store writer has been stuck in one batch for half the interval or
  // more (a hung disk; with a busy timeout that long, a lock held elsewhere): sends and
  // receipts would then go unrecorded, and systemd restarts heraldd within one interval.
  void keep_watchdog_fed() {
    auto interval = systemd::watchdog_interval();
    if (!interval) return;
    feed_watchdog_ = [this, half = *interval / 2] {
      if (auto busy = writer_->busy_for(); busy < half) {
        systemd::notify("WATCHDOG=1");
      } else {
        log::error("store writer stuck in one batch for ", std::chrono::duration<double>(busy).count(),
                   " s: watchdog keep-alive withheld");
      }
      watchdog_.expires_after(half);
      watchdog_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) feed_watchdog_();
      });
    };
    feed_watchdog_();
  }

  // Reminders before acknowledgement deadlines and escalation after them. The pass reads
  // and writes the store on a thread of its own, so that a store busy elsewhere (a large
  // intake, a lock, PostgreSQL reconnecting) never stalls the loop; the loop's timer
  // starts the next pass once this one is done.
  void follow_up() {
    asio::post(followup_thread_, [this] {
      try {
        if (!stopping_ && acks::run_followups(*store_, *directory(), cfg_.acks, now_ms()) > 0) dispatcher_->kick();
      } catch (const StoreError& e) {
        ++metrics_.store_errors;
        log::error("ack follow-ups: store: ", e.what());
      }
      asio::post(io_, [this] {
        if (stopping_) return;
        followups_.expires_after(std::chrono::milliseconds(cfg_.acks.check_interval_ms));
        followups_.async_wait([this](const boost::system::error_code& ec) {
          if (!ec) follow_up();
        });
      });
    });
  }

  void reload_on_hangup() {
    hangup_.async_wait([this](const boost::system::error_code& ec, int) {
      if (ec) return;
      log::info("SIGHUP: reloading the directory");
      reload_directory();
      reload_on_hangup();
    });
  }

  void stop_on_signal() {
    signals_.async_wait([this](const boost::system::error_code&, int sig) {
      log::info("signal ", strsignal(sig), ": shutting down");
      systemd::notify("STOPPING=1");
      server_->stop();
      dispatcher_->stop();
      watchdog_.cancel();
      stopping_ = true;
      followups_.cancel();
      hangup_.cancel();
      // Sends already on the wire get their answers recorded, so that a clean restart
      // (systemctl restart, an upgrade) sends nothing twice.
      dispatcher_->drain([this] { io_.stop(); }, kShutdownDrainMs);
    });
  }

  const Config& cfg_;
  std::unique_ptr<Store> store_;
  Metrics metrics_;
  std::shared_ptr<const Directory> directory_;
  std::unique_ptr<Intake> intake_;
  std::unique_ptr<DirectiveConsumer> consumer_;
  asio::io_context io_{1};
  net::CurlMulti curl_{io_};
  std::unique_ptr<StoreWriter> writer_;
  Gateways gateways_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<loudspeaker::AudioCache> audio_;
  std::unique_ptr<loudspeaker::Announcer> announcer_;
  std::string ack_secret_;
  std::unique_ptr<Operations> operations_;
  // Requests are answered here, off the loop (http/api.hpp); API publishes on the intake's.
  asio::thread_pool workers_{2};
  asio::thread_pool intake_thread_{1};
  std::unique_ptr<http::ApiContext> api_;
  std::unique_ptr<http::Server> server_;
  asio::steady_timer watchdog_{io_};
  std::function<void()> feed_watchdog_;
  asio::thread_pool followup_thread_{1};
  asio::steady_timer followups_{io_};
  std::atomic<bool> stopping_{false};
  asio::signal_set hangup_{io_, SIGHUP};
  asio::signal_set signals_{io_, SIGINT, SIGTERM};
};

constexpr const char* kUsage = "usage: heraldd --config FILE [--check-config] [--verbose]\n";
constexpr const char* kHelp = R"help(heraldd takes official directives from RabbitMQ into its store and sends them to
every recipient over SMS, Zalo, email and loudspeaker controllers, tracking each delivery
until a receipt or an acknowledgement settles it.

Options:
  --config FILE     the configuration (YAML; docs/configuration.md)
  --check-config    read the configuration, its directory and secrets, print
                    "FILE: OK (...)" or every error as FILE:LINE:COL, and exit
  --verbose         log at debug level
  --help, --version

Signals: SIGTERM and SIGINT stop it cleanly (batches in flight finish); SIGHUP reads the
directory file again. Under systemd it reports READY=1, RELOADING=1 and WATCHDOG=1.
Exit status: 0 stopped cleanly or configuration OK, 1 configuration or start-up error,
2 usage error.
)help";

int usage() {
  std::cerr << kUsage;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  curl_global_init(CURL_GLOBAL_DEFAULT);  // before any thread starts
  std::string config_path;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) config_path = argv[++i];
    else if (a.rfind("--config=", 0) == 0) config_path = a.substr(9);
    else if (a == "--check-config") check_only = true;
    else if (a == "--verbose") log::set_min_level(log::Level::debug);
    else if (a == "--help" || a == "-h") {
      std::cout << kUsage << "\n" << kHelp;
      return 0;
    } else if (a == "--version") {
      std::cout << "heraldd " << HERALD_VERSION << "\n";
      return 0;
    } else return usage();
  }
  if (config_path.empty()) return usage();

  ConfigLoad load = load_config(config_path, gateway_catalog());
  if (!load.config) {
    for (const auto& e : load.errors) std::cerr << e.str() << "\n";
    if (load.errors.empty()) std::cerr << config_path << ":1:1: configuration is incomplete\n";
    return 1;
  }
  if (check_only) {
    const auto& dir = *load.config->directory;
    std::cout << config_path << ": OK (" << dir.groups().size() << " groups, " << dir.people().size() << " people, "
              << dir.zones().size() << " zones)\n";
    return 0;
  }
  return Heraldd(*load.config).run();
}
