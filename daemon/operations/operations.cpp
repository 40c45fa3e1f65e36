#include "operations/operations.hpp"

#include <boost/asio/steady_timer.hpp>

#include "core/log.hpp"
#include "core/time.hpp"
#include "planner/planner.hpp"

namespace herald {

Operations::Operations(Store& store, StoreWriter* writer, boost::asio::io_context* io, DirectoryFn directory,
                       std::function<void()> on_queued, size_t batch)
    : store_(store), writer_(writer), io_(io), directory_(std::move(directory)), on_queued_(std::move(on_queued)),
      batch_(batch) {}

bool Operations::later(std::function<void()> again) {
  if (!io_) return false;
  auto timer = std::make_shared<boost::asio::steady_timer>(*io_, std::chrono::seconds(1));
  timer->async_wait([timer, again = std::move(again)](const boost::system::error_code& ec) {
    if (!ec) again();
  });
  return true;
}

OperatorStore::AddressOf Operations::address_of() const {
  auto dir = directory_ ? directory_() : nullptr;
  return [dir](const std::string& recipient, Channel c) -> std::string {
    if (!dir) return {};
    if (c == Channel::loudspeaker) return dir->zone(recipient) ? recipient : std::string();
    const Person* p = dir->person(recipient);
    return p ? address_for(*p, c) : std::string();
  };
}

void Operations::cancel(const std::string& id, const std::string& by, const std::string& reason,
                        std::function<void(std::optional<Cancelled>, const std::string&)> done) {
  run_store_work(
      writer_, store_,
      [this, id, by, reason](Store& s) {
        Cancelled c{s.cancel_directive(id, by, reason, now_ms()), {}};
        if (c.outcome.found) c.first = s.cancel_waiting(id, 0, batch_, now_ms());
        return c;
      },
      [this, id, done = std::move(done)](std::optional<Cancelled>&& c, const std::string& error) {
        if (c && c->outcome.found && !c->first.done) {
          ++running_;
          next_cancel(id, c->first.after);
        }
        done(std::move(c), error);
      });
}

void Operations::next_cancel(std::string id, int64_t after) {
  // A batch that fails (the store refusing writes) is tried again a second later; one that
  // finds the directive no longer cancelled-and-waiting ends the run.
  run_store_work(
      writer_, store_, [this, id, after](Store& s) { return s.cancel_waiting(id, after, batch_, now_ms()); },
      [this, id, after](std::optional<CancelBatch>&& b, const std::string& error) {
        if (!error.empty()) {
          log::error("cancel of ", id, ": store: ", error, "; trying again in a second");
          if (!later([this, id, after] { next_cancel(id, after); })) --running_;
          return;
        }
        if (!b->done) return next_cancel(id, b->after);
        --running_;
        log::info("directive ", id, ": cancel finished; ", b->in_flight, " deliveries were already on their way");
      });
}

void Operations::replay(const std::string& id, const ReplayFilter& filter, const std::string& by,
                        const std::string& reason,
                        std::function<void(std::optional<Replayed>, const std::string&)> done) {
  run_store_work(
      writer_, store_,
      [this, id, filter, by, reason, address = address_of()](Store& s) -> std::optional<Replayed> {
        Replayed r;
        r.job = s.start_replay(id, filter, by, reason, now_ms(), &r.cancelled);
        if (!r.job) {
          if (!r.cancelled) return std::nullopt;
          return r;
        }
        r.items = s.replay_batch(*r.job, address, batch_, now_ms());
        return r;
      },
      [this, done = std::move(done)](std::optional<std::optional<Replayed>>&& r, const std::string& error) {
        std::optional<Replayed> out = r ? std::move(*r) : std::nullopt;
        if (out && out->job) {
          if (out->job->replayed > 0 && on_queued_) on_queued_();
          if (!out->job->done) {
            ++running_;
            next_replay(*out->job);
          }
        }
        done(std::move(out), error);
      });
}

void Operations::next_replay(ReplayJob job) {
  run_store_work(
      writer_, store_,
      [this, job, address = address_of()](Store& s) {
        ReplayJob j = job;  // the work may run again (a conflict): from the job as it was
        s.replay_batch(j, address, batch_, now_ms());
        return std::pair{j, j.replayed - job.replayed};
      },
      [this, job](std::optional<std::pair<ReplayJob, int64_t>>&& r, const std::string& error) {
        if (!error.empty()) {
          log::error("replay of ", job.directive_id, ": store: ", error, "; trying again in a second");
          if (!later([this, job] { next_replay(job); })) --running_;
          return;
        }
        if (r->second > 0 && on_queued_) on_queued_();
        if (!r->first.done) return next_replay(r->first);
        --running_;
        log::info("directive ", job.directive_id, ": replay by ", job.by, " finished; ", r->first.replayed,
                  " deliveries sent again, ", r->first.skipped, " without a contact");
      });
}

void Operations::resume() {
  for (const std::string& id : store_.unfinished_cancels()) {
    log::info("directive ", id, ": finishing a cancel a stop cut short");
    ++running_;
    next_cancel(id, 0);
  }
  for (ReplayJob& job : store_.unfinished_replays()) {
    log::info("directive ", job.directive_id, ": finishing a replay by ", job.by, " a stop cut short");
    ++running_;
    next_replay(std::move(job));
  }
}

}  // namespace herald
