#pragma once
// The durable store: directives, their deliveries, and the append-only event log. Each
// stage sees it through the narrow interface of its role (intake, dispatch, receipts,
// acknowledgements, operators' queries, the instances' leases); SQLite (one heraldd) and
// PostgreSQL (several sharing the work) implement them all (store/sql_store.hpp).
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "store/rows.hpp"
#include "store/seal.hpp"

namespace herald {

/// Thrown when the store cannot do its job (disk full, locked, corrupt). The caller must
/// not ack what it was trying to commit.
class StoreError : public std::runtime_error {
 public:
  /// `unavailable`: the store could not take the write at all (disk full, locked by
  /// another process past busy_timeout, I/O error, read-only), as opposed to a refusal of
  /// this write in particular. It is what /readyz reports.
  explicit StoreError(const std::string& what, bool unavailable = false)
      : std::runtime_error(what), unavailable_(unavailable) {}
  bool unavailable() const { return unavailable_; }
  /// Another instance's transaction got in the way (PostgreSQL chose this one to end a
  /// deadlock): running the same work again is the cure.
  bool conflict() const { return conflict_; }
  static StoreError conflicting(const std::string& what) {
    StoreError e(what);
    e.conflict_ = true;
    return e;
  }

 private:
  bool unavailable_ = false;
  bool conflict_ = false;
};

/// Intake: directives in, with their deliveries.
class IntakeStore {
 public:
  virtual ~IntakeStore() = default;
  /// Commits the directive and all its deliveries atomically, or nothing. A directive
  /// whose id exists already adds nothing. Throws StoreError.
  ///
  /// The deliveries are committed in parts (`part_committed` runs after each part but the
  /// last, so that sending can start); the directive counts as taken in only when all
  /// are. If heraldd stops half-way, the broker delivers the message again and the same
  /// call adds what is missing (the planner is deterministic). A directive cancelled
  /// while it is taken in gets no more deliveries. One needing acknowledgement gets the
  /// first of its candidate codes (directive/ack_code.hpp) no open directive holds.
  virtual IntakeOutcome commit_directive(const Directive& d, std::string_view raw, const DeliverySource& deliveries,
                                         const std::function<void()>& part_committed) = 0;
  IntakeOutcome commit_directive(const Directive& d, std::string_view raw, const DeliverySource& deliveries) {
    return commit_directive(d, raw, deliveries, {});
  }
  IntakeOutcome commit_directive(const Directive& d, std::string_view raw,
                                 const std::vector<PlannedDelivery>& deliveries) {
    return commit_directive(d, raw, DeliverySource([&](const std::function<void(const PlannedDelivery&)>& emit) {
                              for (const auto& p : deliveries) emit(p);
                            }));
  }
  /// What the store holds under a directive id: its body, and whether it was taken in
  /// completely (see commit_directive).
  struct TakenIn {
    std::string raw;
    bool complete = true;
  };
  virtual std::optional<TakenIn> taken_in(const std::string& id) = 0;
  /// Directives whose intake a stop cut short (not all their deliveries committed), oldest
  /// first: a directive published through the API has no broker to deliver it again, so
  /// heraldd finishes them itself at its next start.
  virtual std::vector<std::string> unfinished_intakes() = 0;
};

/// Dispatch: claiming due deliveries, recording what each send came to, and what a crash
/// or a stop left in flight; the gateways' rotating credentials.
class DispatchStore {
 public:
  virtual ~DispatchStore() = default;
  /// Moves up to `limit` due deliveries of `channel` (queued or retrying, next attempt
  /// not in the future; higher urgency first) to `sending`, in one transaction.
  virtual std::vector<ClaimedDelivery> claim_due(Channel channel, const std::string& gateway,
                                                 int64_t now_ms, size_t limit) = 0;
  /// When the next queued/retrying delivery of `channel` becomes due, if any.
  virtual std::optional<int64_t> next_due_ms(Channel channel) = 0;
  /// Applies `t` if transition_allowed() agrees; an event either way.
  virtual TransitionResult transition(int64_t delivery_id, const TransitionRequest& t) = 0;
  /// The directive's body and ack code, to compose what its recipients get.
  virtual std::optional<StoredDirective> directive_to_send(const std::string& id) = 0;
  /// After a restart: every delivery left `sending` goes to `retrying`, due after
  /// `grace_ms` so that receipts for sends that did leave can settle it first.
  virtual size_t recover_in_flight(int64_t now_ms, int64_t grace_ms) = 0;
  /// Deliveries the dispatcher claimed (`sending`) but did not send, at a clean stop:
  /// `retrying`, due at `now_ms`, the claim's attempt given back. Only those still
  /// `sending` change. Returns how many did.
  virtual size_t release_unsent(const std::vector<int64_t>& ids, int64_t now_ms) = 0;
  /// Deliveries with a fallback chain that were sent but got no receipt within their
  /// chain's wait: `expired` (receipt_timeout), and the next channel queued.
  virtual size_t expire_unconfirmed(int64_t now_ms) = 0;
  /// Values a gateway persisted under "<gateway>.<key>" (rotating credentials).
  virtual std::map<std::string, std::string> gateway_state(const std::string& gateway) = 0;
  virtual void put_gateway_state(const std::string& gateway, const std::map<std::string, std::string>& values) = 0;
  /// Keeps `value` under "<gateway>.<key>" unless a value is there already (another
  /// instance's), and returns the value kept (the ack links' secret: "acks.link_secret").
  /// From now on every gateway state value is kept sealed with `seal` (store/seal.hpp),
  /// and those kept in plain text before are sealed now; returns how many were. Without a
  /// seal, reading a sealed value throws StoreError saying the key is missing. Called once,
  /// at start, before any other thread uses the store.
  virtual size_t seal_gateway_state(std::shared_ptr<const SecretSeal> seal) = 0;
  virtual std::string keep_first_gateway_state(const std::string& gateway, const std::string& key,
                                               const std::string& value) = 0;
};

/// Receipts: what providers report about deliveries (receipts/receipts.hpp applies them).
class ReceiptStore {
 public:
  virtual ~ReceiptStore() = default;
  /// Looks a delivery up by its receipt token (compared in constant time).
  virtual std::optional<DeliveryRow> delivery_by_token(const std::string& token) = 0;
  /// Looks a delivery up by the id `gateway` gave its message (Zalo's msg_id).
  virtual std::optional<DeliveryRow> delivery_by_provider_ref(const std::string& gateway, const std::string& ref) = 0;
  /// Applies a receipt's transition to delivery `id`: once only under `once` when it is
  /// not empty (a provider may post the same event again): nullopt, and nothing written,
  /// for a key applied before. The key and the transition commit together.
  virtual std::optional<TransitionResult> apply_receipt(int64_t id, const TransitionRequest& t,
                                                        const std::string& once) = 0;
};

/// Acknowledgements: replies, who acknowledged, reminders and escalation.
class AckStore {
 public:
  virtual ~AckStore() = default;
  /// Directives sent to `recipient_id` that need their acknowledgement and do not have
  /// it yet (not cancelled, received within the last 30 days), newest first.
  virtual std::vector<OpenAck> open_acks(const std::string& recipient_id, int64_t now_ms) = 0;
  /// Remembers a reply's provider key (InboundReply::once) as applied receipts' are: true
  /// the first time, false for a replay (nothing written).
  virtual bool first_reply(const std::string& key, int64_t now_ms) = 0;
  /// Records that `recipient_id` acknowledged: their deliveries of it become
  /// `acknowledged`, their reminders and fallbacks not yet sent `cancelled`. Once only.
  virtual AckOutcome acknowledge(const std::string& directive_id, const std::string& recipient_id,
                                 Channel channel, const std::string& text, const std::string& source,
                                 int64_t now_ms) = 0;
  virtual void record_reply(const ReplyRecord& r, int64_t now_ms) = 0;
  /// Open directives with an acknowledgement deadline (for reminders and escalation).
  virtual std::vector<AckWatch> ack_watches(int64_t now_ms) = 0;
  virtual std::vector<MissingAck> missing_acks(const std::string& directive_id) = 0;
  /// Adds the follow-up `kind` of a directive (its deliveries, possibly none) once: false
  /// when it was added before (by this or another instance).
  virtual bool add_followup(const std::string& directive_id, const std::string& kind,
                            const std::vector<PlannedDelivery>& deliveries, int64_t now_ms) = 0;
};

/// Operators: what the API, the dashboard and the feeds show, and what an operator does
/// to a directive (cancel, replay, a note in its audit trail).
class OperatorStore {
 public:
  /// The directory's current address of a recipient on a channel (empty: none).
  using AddressOf = std::function<std::string(const std::string& recipient_id, Channel)>;
  virtual ~OperatorStore() = default;
  /// Newest first; `before` (received_at_ms, id), the last of the previous page: the page after it.
  using DirectiveCursor = std::pair<int64_t, std::string>;
  virtual std::vector<DirectiveSummary> list_directives(size_t limit, size_t offset,
                                                        const std::optional<DirectiveCursor>& before = {}) = 0;
  /// Directives naming loudspeaker zones, received at or after `since_ms`, newest first
  /// (the CAP feed).
  virtual std::vector<DirectiveSummary> public_directives(int64_t since_ms, size_t limit) = 0;
  /// One row that changes whenever public_directives(since_ms, ...) would: the feed's cache key.
  virtual PublicStamp public_stamp(int64_t since_ms) = 0;
  virtual std::optional<DirectiveDetail> directive(const std::string& id) = 0;
  /// The directive's summary alone: one row, no counting of its deliveries (what a public
  /// feed or an ack link needs, at the cost of one lookup however large the directive).
  virtual std::optional<DirectiveSummary> directive_summary(const std::string& id) = 0;
  virtual std::optional<std::string> directive_raw(const std::string& id) = 0;
  virtual std::vector<DeliveryRow> deliveries(const std::string& directive_id, const DeliveryQuery& q = {}) = 0;
  virtual std::optional<DeliveryRow> delivery(int64_t id) = 0;
  virtual std::vector<EventRow> events(const std::string& directive_id, const EventQuery& q = {}) = 0;
  /// Everyone the directive was addressed to, acknowledged or not, by recipient id.
  virtual std::vector<AckRow> ack_status(const std::string& directive_id, const AckQuery& q = {}) = 0;
  /// How many acknowledged, and how many were asked and have not.
  virtual AckTotals ack_totals(const std::string& directive_id) = 0;
  /// Newest first; `before_id` (not 0): those older than that reply.
  virtual std::vector<ReplyRow> replies(size_t limit, int64_t before_id = 0) = 0;
  /// Deliveries of every directive by channel and state (for /metrics).
  virtual std::vector<StateCount> delivery_counts() = 0;
  virtual int64_t directive_count() = 0;
  /// True when the store answers a trivial query.
  virtual bool ping() = 0;
  /// Cancels a directive: it records who cancelled it, when and why (an event too), in one
  /// short transaction however large the directive; from then on none of its deliveries is
  /// claimed for sending. Its waiting deliveries are then cancelled in batches by
  /// cancel_waiting(). Once only.
  virtual CancelOutcome cancel_directive(const std::string& id, const std::string& by, const std::string& reason,
                                         int64_t now_ms) = 0;
  /// Up to `limit` deliveries of cancelled directive `id` that had not left yet, after
  /// delivery `after` in id order, become `cancelled`, each with an event naming who
  /// cancelled it; the batch says where the next starts. The batch from the start (after
  /// 0) that finds fewer than `limit` is the last: done, with what is in flight counted.
  virtual CancelBatch cancel_waiting(const std::string& id, int64_t after, size_t limit, int64_t now) = 0;
  /// Cancelled directives with deliveries still waiting: a cancel a stop cut short.
  virtual std::vector<std::string> unfinished_cancels() = 0;
  /// Replays, in batches that a stop does not cut short. start_replay() records the
  /// operator's request (who, why, which states, channel, recipient) as a job; each
  /// replay_batch() sends up to `limit` more of the matching failed/expired deliveries
  /// again (queued, attempts reset, a fresh receipt token) to the address `address_of`
  /// gives now, each with an event naming the operator and the reason, and moves the job
  /// on, in one transaction; unfinished_replays() are those a stop interrupted. Nothing of
  /// a cancelled directive is replayed: start_replay() gives nullopt and sets `cancelled`
  /// (nullopt too for no such directive), and a cancel finishes any job under way.
  virtual std::optional<ReplayJob> start_replay(const std::string& directive_id, const ReplayFilter& filter,
                                                const std::string& by, const std::string& reason, int64_t now,
                                                bool* cancelled = nullptr) = 0;
  virtual std::vector<ReplayItem> replay_batch(ReplayJob& job, const AddressOf& address_of, size_t limit,
                                               int64_t now) = 0;
  virtual std::vector<ReplayJob> unfinished_replays() = 0;
  /// What a replay would send, writing nothing: up to `limit` items after delivery `after`
  /// (0: all), and how many match in all.
  virtual std::vector<ReplayItem> replay_preview(const std::string& directive_id, const ReplayFilter& filter,
                                                 const AddressOf& address_of, size_t limit, size_t* total) = 0;
  /// A directive-level event in the audit trail (an operator's action, say).
  virtual void record_event(const std::string& directive_id, const std::string& to_state, const std::string& source,
                            const std::string& detail, int64_t now_ms) = 0;
};

/// Several instances on one store (PostgreSQL): leases, taking over the claims of an
/// instance that died, and the gateways' shared rate limits (store/lease.hpp uses them).
class LeaseStore {
 public:
  virtual ~LeaseStore() = default;
  /// True when other heraldd may share this store: claims carry this instance's name and
  /// lease, and rate limits are shared through the store.
  virtual bool shared() const { return false; }
  /// Renews this instance's lease (its claims stay its own while it is renewed). Throws
  /// StoreError when the store cannot be reached: the caller must stop sending once the
  /// lease may have run out.
  virtual void renew_lease(int64_t /*now_ms*/) {}
  /// Deliveries left `sending` by instances whose lease ran out (they died or lost the
  /// store): `retrying`, due after `grace_ms` so that receipts for sends that did leave
  /// can settle them first. Returns how many.
  virtual size_t take_over(int64_t /*now_ms*/, int64_t /*grace_ms*/) { return 0; }
  /// Up to `want` sends of `gateway`'s rate, shared by every instance: a token bucket of
  /// `rate_per_s` refilled on the store's clock, holding at most `burst`.
  virtual int64_t take_rate_tokens(const std::string& /*gateway*/, int64_t want, double /*rate_per_s*/,
                                   double /*burst*/) {
    return want;
  }
};

/// The whole store, every role: what opens it, the store writer and the tests hold.
class Store : public IntakeStore,
              public DispatchStore,
              public ReceiptStore,
              public AckStore,
              public OperatorStore,
              public LeaseStore {
 public:
  /// Runs `fn` as one transaction: the store calls it makes on this thread commit together
  /// when it returns (one disk sync for all of them), or not at all. A call inside that
  /// throws StoreError undoes only its own writes. Throws StoreError when the commit fails.
  virtual void batch(const std::function<void()>& fn) = 0;
  /// Runs `fn` so that its store calls take effect together or not at all: inside a
  /// batch, a failure of `fn` (it throws) undoes all it wrote and nothing else.
  virtual void atomically(const std::function<void()>& fn) = 0;
};

/// How one instance of several shares a store.
struct SharedStoreOptions {
  std::string instance;      // unique among the instances sharing the store
  int64_t lease_ms = 15000;  // claims of an instance not heard from for this long are taken over
};

/// Opens (creating and migrating as needed) an SQLite store in WAL mode.
std::unique_ptr<Store> open_sqlite_store(const std::string& path, int64_t busy_timeout_ms = 5000);

/// Opens (migrating as needed) a PostgreSQL store shared by several instances. Refuses to
/// start when another live instance uses the same name.
std::unique_ptr<Store> open_postgres_store(const std::string& conninfo, const SharedStoreOptions& options);

}  // namespace herald
