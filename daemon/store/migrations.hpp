#pragma once
// Schema versions of the stores, applied in order: SQLite's PRAGMA user_version, and
// PostgreSQL's herald_schema table, record the last one applied. Never edit a released
// step: add a new one. Both schemas have the same tables and columns, so that one store
// implementation (sql_store.cpp) runs on either.
#include <array>

namespace herald::migrations {

inline constexpr std::array<const char*, 9> kSqlite{
    // 1: directives, deliveries, append-only events.
    R"sql(
CREATE TABLE directives (
  id               TEXT PRIMARY KEY,
  number           TEXT NOT NULL,
  issuer_code      TEXT NOT NULL,
  issuer_name      TEXT NOT NULL,
  issued_at        TEXT NOT NULL,
  subject          TEXT NOT NULL,
  urgency          TEXT NOT NULL,
  confidentiality  TEXT NOT NULL,
  ack_required     INTEGER NOT NULL,
  ack_deadline_ms  INTEGER,
  raw              TEXT NOT NULL,
  received_at_ms   INTEGER NOT NULL
);
CREATE INDEX directives_received ON directives(received_at_ms);

CREATE TABLE deliveries (
  id               INTEGER PRIMARY KEY,
  directive_id     TEXT NOT NULL REFERENCES directives(id),
  recipient_kind   TEXT NOT NULL,
  recipient_id     TEXT NOT NULL,
  recipient_name   TEXT NOT NULL,
  channel          TEXT NOT NULL,
  address          TEXT NOT NULL,
  state            TEXT NOT NULL,
  urgency_rank     INTEGER NOT NULL,
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms  INTEGER NOT NULL,
  error_code       TEXT NOT NULL DEFAULT '',
  error_text       TEXT NOT NULL DEFAULT '',
  token            TEXT NOT NULL,             -- unguessable; names it in receipt URLs
  gateway          TEXT NOT NULL DEFAULT '',  -- which gateway took the last attempt
  provider_ref     TEXT NOT NULL DEFAULT '',  -- the gateway's id for the message
  sending_since_ms INTEGER,
  created_at_ms    INTEGER NOT NULL,
  updated_at_ms    INTEGER NOT NULL,
  UNIQUE (directive_id, recipient_id, channel)
);
CREATE INDEX deliveries_due ON deliveries(channel, state, urgency_rank DESC, next_attempt_ms);
CREATE UNIQUE INDEX deliveries_token ON deliveries(token);

CREATE TABLE events (
  id           INTEGER PRIMARY KEY,
  delivery_id  INTEGER REFERENCES deliveries(id),
  directive_id TEXT NOT NULL,
  at_ms        INTEGER NOT NULL,
  from_state   TEXT NOT NULL,
  to_state     TEXT NOT NULL,
  source       TEXT NOT NULL,
  detail       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_directive ON events(directive_id, id);
CREATE INDEX events_delivery ON events(delivery_id, id);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
  BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
  BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
)sql",
    // 2: what gateways must keep across restarts (Zalo's rotating refresh token), and
    // fallback chains (the channels to try next, addresses resolved at intake).
    R"sql(
ALTER TABLE deliveries ADD COLUMN fallback TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN fallback_after_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN fallback_of INTEGER REFERENCES deliveries(id);
ALTER TABLE deliveries ADD COLUMN sent_at_ms INTEGER;
CREATE INDEX deliveries_unconfirmed ON deliveries(state, sent_at_ms) WHERE fallback != '';
CREATE TABLE gateway_state (
  gateway        TEXT NOT NULL,
  key            TEXT NOT NULL,
  value          TEXT NOT NULL,
  updated_at_ms  INTEGER NOT NULL,
  PRIMARY KEY (gateway, key)
);
)sql",
    // 3: Zalo webhook events already applied (Zalo may post one twice), and receipts that
    // name a delivery by the provider's message id.
    R"sql(
CREATE TABLE zalo_events (
  msg_id  TEXT NOT NULL,
  event   TEXT NOT NULL,
  at_ms   INTEGER NOT NULL,
  PRIMARY KEY (msg_id, event)
);
CREATE INDEX zalo_events_at ON zalo_events(at_ms);
CREATE INDEX deliveries_provider_ref ON deliveries(gateway, provider_ref) WHERE provider_ref <> '';
)sql",
    // 4: cancellation of a directive, and the loudspeaker zones it names (the CAP feed
    // lists directives for the public); rows taken in before read their zones from raw.
    R"sql(
ALTER TABLE directives ADD COLUMN cancelled_at_ms INTEGER;
ALTER TABLE directives ADD COLUMN cancelled_by TEXT NOT NULL DEFAULT '';
ALTER TABLE directives ADD COLUMN cancel_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE directives ADD COLUMN zones TEXT NOT NULL DEFAULT '';
UPDATE directives SET zones = COALESCE(
  (SELECT group_concat(value, ',') FROM json_each(raw, '$.loudspeaker.zones')), '')
  WHERE json_valid(raw);
CREATE INDEX directives_public ON directives(received_at_ms) WHERE zones <> '';
)sql",
    // 5: acknowledgements. Each directive needing one gets a short code; every reply is
    // kept (matched or not); reminders and escalations are deliveries with a purpose,
    // and each follow-up of a directive fires once (ack_timers).
    R"sql(
ALTER TABLE directives ADD COLUMN ack_code TEXT NOT NULL DEFAULT '';
CREATE INDEX directives_ack_code ON directives(ack_code) WHERE ack_code <> '';
-- A reminder goes on the channel the directive went on: one delivery per recipient and
-- channel is no longer the rule, so the table is rebuilt with the purpose in its key
-- (SQLite cannot drop a table constraint; migrations run with foreign keys off).
CREATE TABLE deliveries_v5 (
  id               INTEGER PRIMARY KEY,
  directive_id     TEXT NOT NULL REFERENCES directives(id),
  recipient_kind   TEXT NOT NULL,
  recipient_id     TEXT NOT NULL,
  recipient_name   TEXT NOT NULL,
  channel          TEXT NOT NULL,
  address          TEXT NOT NULL,
  state            TEXT NOT NULL,
  urgency_rank     INTEGER NOT NULL,
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms  INTEGER NOT NULL,
  error_code       TEXT NOT NULL DEFAULT '',
  error_text       TEXT NOT NULL DEFAULT '',
  token            TEXT NOT NULL,
  gateway          TEXT NOT NULL DEFAULT '',
  provider_ref     TEXT NOT NULL DEFAULT '',
  sending_since_ms INTEGER,
  created_at_ms    INTEGER NOT NULL,
  updated_at_ms    INTEGER NOT NULL,
  fallback         TEXT NOT NULL DEFAULT '',
  fallback_after_ms INTEGER NOT NULL DEFAULT 0,
  fallback_of      INTEGER REFERENCES deliveries(id),
  sent_at_ms       INTEGER,
  purpose          TEXT NOT NULL DEFAULT 'directive',  -- directive | reminder | escalation
  note             TEXT NOT NULL DEFAULT '',           -- which reminder; whom an escalation is about
  UNIQUE (directive_id, recipient_id, channel, purpose, note)
);
INSERT INTO deliveries_v5 (id, directive_id, recipient_kind, recipient_id, recipient_name, channel, address,
  state, urgency_rank, attempts, next_attempt_ms, error_code, error_text, token, gateway, provider_ref,
  sending_since_ms, created_at_ms, updated_at_ms, fallback, fallback_after_ms, fallback_of, sent_at_ms)
SELECT id, directive_id, recipient_kind, recipient_id, recipient_name, channel, address,
  state, urgency_rank, attempts, next_attempt_ms, error_code, error_text, token, gateway, provider_ref,
  sending_since_ms, created_at_ms, updated_at_ms, fallback, fallback_after_ms, fallback_of, sent_at_ms
FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_v5 RENAME TO deliveries;
CREATE INDEX deliveries_due ON deliveries(channel, state, urgency_rank DESC, next_attempt_ms);
CREATE UNIQUE INDEX deliveries_token ON deliveries(token);
CREATE INDEX deliveries_unconfirmed ON deliveries(state, sent_at_ms) WHERE fallback != '';
CREATE INDEX deliveries_provider_ref ON deliveries(gateway, provider_ref) WHERE provider_ref <> '';
CREATE INDEX deliveries_recipient ON deliveries(recipient_id, directive_id);
CREATE TABLE acks (
  directive_id  TEXT NOT NULL REFERENCES directives(id),
  recipient_id  TEXT NOT NULL,
  channel       TEXT NOT NULL,
  at_ms         INTEGER NOT NULL,
  text          TEXT NOT NULL,
  source        TEXT NOT NULL,
  PRIMARY KEY (directive_id, recipient_id)
);
CREATE TABLE replies (
  id            INTEGER PRIMARY KEY,
  at_ms         INTEGER NOT NULL,
  channel       TEXT NOT NULL,
  sender        TEXT NOT NULL,
  text          TEXT NOT NULL,
  outcome       TEXT NOT NULL,
  directive_id  TEXT,
  recipient_id  TEXT,
  detail        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX replies_at ON replies(at_ms);
CREATE TABLE ack_timers (
  directive_id  TEXT NOT NULL REFERENCES directives(id),
  kind          TEXT NOT NULL,
  fired_at_ms   INTEGER NOT NULL,
  PRIMARY KEY (directive_id, kind)
);
)sql",
    // 6: a directive's deliveries are committed in parts; this marks the last one done.
    R"sql(
ALTER TABLE directives ADD COLUMN intake_complete INTEGER NOT NULL DEFAULT 1;
)sql",
    // 7: which instance claimed a delivery being sent (PostgreSQL's schema has it; one
    // heraldd on SQLite leaves it empty).
    R"sql(
ALTER TABLE deliveries ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
)sql",
    // 8: receipts applied at most once, whichever provider may post them again (it was
    // Zalo's events alone: their keys carry over as zalo:<event>:<msg_id>).
    R"sql(
CREATE TABLE receipt_keys (
  key    TEXT PRIMARY KEY,
  at_ms  INTEGER NOT NULL
);
CREATE INDEX receipt_keys_at ON receipt_keys(at_ms);
INSERT INTO receipt_keys(key, at_ms) SELECT 'zalo:' || event || ':' || msg_id, at_ms FROM zalo_events;
DROP TABLE zalo_events;
)sql",
    // 9: a replay is a job kept until its batches are done, so that a stop cannot cut it
    // short (an operator's replay of a large directive runs in bounded transactions).
    R"sql(
CREATE TABLE replay_jobs (
  id            INTEGER PRIMARY KEY,
  directive_id  TEXT NOT NULL REFERENCES directives(id),
  states        TEXT NOT NULL,
  channel       TEXT NOT NULL,
  recipient_id  TEXT NOT NULL,
  by_name       TEXT NOT NULL,
  reason        TEXT NOT NULL,
  cursor        INTEGER NOT NULL,
  replayed      INTEGER NOT NULL,
  skipped       INTEGER NOT NULL,
  done          INTEGER NOT NULL,
  created_ms    INTEGER NOT NULL
);
CREATE INDEX replay_jobs_open ON replay_jobs(directive_id) WHERE done = 0;
-- A directive's deliveries in id order: a page of a listing, a batch of a cancel or a
-- replay, each costs its own rows however large the directive.
CREATE INDEX deliveries_directive ON deliveries(directive_id, id);
)sql",
};

// PostgreSQL: the SQLite schema as it stood at version 7, in one step, plus what several
// instances need to share it: their leases, and the gateways' shared rate limits. Text
// compares bytewise (COLLATE "C"), as SQLite's does: ids sort the same on both, and a
// receipt token's selector range (token >= s AND token < s || x'7f') holds.
inline constexpr std::array<const char*, 4> kPostgres{
    R"sql(
CREATE TABLE directives (
  id               TEXT COLLATE "C" PRIMARY KEY,
  number           TEXT COLLATE "C" NOT NULL,
  issuer_code      TEXT COLLATE "C" NOT NULL,
  issuer_name      TEXT COLLATE "C" NOT NULL,
  issued_at        TEXT COLLATE "C" NOT NULL,
  subject          TEXT COLLATE "C" NOT NULL,
  urgency          TEXT COLLATE "C" NOT NULL,
  confidentiality  TEXT COLLATE "C" NOT NULL,
  ack_required     BIGINT NOT NULL,
  ack_deadline_ms  BIGINT,
  raw              TEXT COLLATE "C" NOT NULL,
  received_at_ms   BIGINT NOT NULL,
  cancelled_at_ms  BIGINT,
  cancelled_by     TEXT COLLATE "C" NOT NULL DEFAULT '',
  cancel_reason    TEXT COLLATE "C" NOT NULL DEFAULT '',
  zones            TEXT COLLATE "C" NOT NULL DEFAULT '',
  ack_code         TEXT COLLATE "C" NOT NULL DEFAULT '',
  intake_complete  BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX directives_received ON directives(received_at_ms);
CREATE INDEX directives_public ON directives(received_at_ms) WHERE zones <> '';
CREATE INDEX directives_ack_code ON directives(ack_code) WHERE ack_code <> '';

CREATE TABLE deliveries (
  id               BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  directive_id     TEXT COLLATE "C" NOT NULL REFERENCES directives(id),
  recipient_kind   TEXT COLLATE "C" NOT NULL,
  recipient_id     TEXT COLLATE "C" NOT NULL,
  recipient_name   TEXT COLLATE "C" NOT NULL,
  channel          TEXT COLLATE "C" NOT NULL,
  address          TEXT COLLATE "C" NOT NULL,
  state            TEXT COLLATE "C" NOT NULL,
  urgency_rank     BIGINT NOT NULL,
  attempts         BIGINT NOT NULL DEFAULT 0,
  next_attempt_ms  BIGINT NOT NULL,
  error_code       TEXT COLLATE "C" NOT NULL DEFAULT '',
  error_text       TEXT COLLATE "C" NOT NULL DEFAULT '',
  token            TEXT COLLATE "C" NOT NULL,
  gateway          TEXT COLLATE "C" NOT NULL DEFAULT '',
  provider_ref     TEXT COLLATE "C" NOT NULL DEFAULT '',
  sending_since_ms BIGINT,
  created_at_ms    BIGINT NOT NULL,
  updated_at_ms    BIGINT NOT NULL,
  fallback         TEXT COLLATE "C" NOT NULL DEFAULT '',
  fallback_after_ms BIGINT NOT NULL DEFAULT 0,
  fallback_of      BIGINT REFERENCES deliveries(id),
  sent_at_ms       BIGINT,
  purpose          TEXT COLLATE "C" NOT NULL DEFAULT 'directive',
  note             TEXT COLLATE "C" NOT NULL DEFAULT '',
  claimed_by       TEXT COLLATE "C" NOT NULL DEFAULT '',
  UNIQUE (directive_id, recipient_id, channel, purpose, note)
);
-- Due work only, in the order claims take it.
CREATE INDEX deliveries_due ON deliveries(channel, urgency_rank DESC, next_attempt_ms, id)
  WHERE state IN ('queued', 'retrying');
CREATE INDEX deliveries_next_due ON deliveries(channel, next_attempt_ms) WHERE state IN ('queued', 'retrying');
CREATE INDEX deliveries_sending ON deliveries(claimed_by) WHERE state = 'sending';
CREATE UNIQUE INDEX deliveries_token ON deliveries(token);
CREATE INDEX deliveries_unconfirmed ON deliveries(state, sent_at_ms) WHERE fallback <> '';
CREATE INDEX deliveries_provider_ref ON deliveries(gateway, provider_ref) WHERE provider_ref <> '';
CREATE INDEX deliveries_recipient ON deliveries(recipient_id, directive_id);
CREATE INDEX deliveries_fallback_of ON deliveries(fallback_of) WHERE fallback_of IS NOT NULL;

CREATE TABLE events (
  id           BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  delivery_id  BIGINT REFERENCES deliveries(id),
  directive_id TEXT COLLATE "C" NOT NULL,
  at_ms        BIGINT NOT NULL,
  from_state   TEXT COLLATE "C" NOT NULL,
  to_state     TEXT COLLATE "C" NOT NULL,
  source       TEXT COLLATE "C" NOT NULL,
  detail       TEXT COLLATE "C" NOT NULL DEFAULT ''
);
CREATE INDEX events_directive ON events(directive_id, id);
CREATE INDEX events_delivery ON events(delivery_id, id);
CREATE FUNCTION herald_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'events are append-only';
END
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
  FOR EACH ROW EXECUTE FUNCTION herald_events_append_only();

CREATE TABLE gateway_state (
  gateway        TEXT COLLATE "C" NOT NULL,
  key            TEXT COLLATE "C" NOT NULL,
  value          TEXT COLLATE "C" NOT NULL,
  updated_at_ms  BIGINT NOT NULL,
  PRIMARY KEY (gateway, key)
);
CREATE TABLE zalo_events (
  msg_id  TEXT COLLATE "C" NOT NULL,
  event   TEXT COLLATE "C" NOT NULL,
  at_ms   BIGINT NOT NULL,
  PRIMARY KEY (msg_id, event)
);
CREATE INDEX zalo_events_at ON zalo_events(at_ms);
CREATE TABLE acks (
  directive_id  TEXT COLLATE "C" NOT NULL REFERENCES directives(id),
  recipient_id  TEXT COLLATE "C" NOT NULL,
  channel       TEXT COLLATE "C" NOT NULL,
  at_ms         BIGINT NOT NULL,
  text          TEXT COLLATE "C" NOT NULL,
  source        TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (directive_id, recipient_id)
);
CREATE TABLE replies (
  id            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  at_ms         BIGINT NOT NULL,
  channel       TEXT COLLATE "C" NOT NULL,
  sender        TEXT COLLATE "C" NOT NULL,
  text          TEXT COLLATE "C" NOT NULL,
  outcome       TEXT COLLATE "C" NOT NULL,
  directive_id  TEXT COLLATE "C",
  recipient_id  TEXT COLLATE "C",
  detail        TEXT COLLATE "C" NOT NULL DEFAULT ''
);
CREATE INDEX replies_at ON replies(at_ms);
CREATE TABLE ack_timers (
  directive_id  TEXT COLLATE "C" NOT NULL REFERENCES directives(id),
  kind          TEXT COLLATE "C" NOT NULL,
  fired_at_ms   BIGINT NOT NULL,
  PRIMARY KEY (directive_id, kind)
);

-- Every instance sharing the store, renewing its lease; times on the server's clock.
CREATE TABLE instances (
  name           TEXT COLLATE "C" PRIMARY KEY,
  host           TEXT COLLATE "C" NOT NULL,
  pid            BIGINT NOT NULL,
  started_at_ms  BIGINT NOT NULL,
  heartbeat_ms   BIGINT NOT NULL,
  lease_ms       BIGINT NOT NULL
);
-- A token bucket per gateway, shared by the instances sending through it.
CREATE TABLE rate_buckets (
  gateway     TEXT COLLATE "C" PRIMARY KEY,
  tokens      DOUBLE PRECISION NOT NULL,
  updated_ms  BIGINT NOT NULL
);
)sql",
    // 2: SQLite's step 8 (receipt keys for any provider, Zalo's carried over).
    R"sql(
CREATE TABLE receipt_keys (
  key    TEXT COLLATE "C" PRIMARY KEY,
  at_ms  BIGINT NOT NULL
);
CREATE INDEX receipt_keys_at ON receipt_keys(at_ms);
INSERT INTO receipt_keys(key, at_ms) SELECT 'zalo:' || event || ':' || msg_id, at_ms FROM zalo_events;
DROP TABLE zalo_events;
)sql",
    // 3: a follow-up is added once by its note's digest, not the note: an escalation's
    // note names everyone missing, and past PostgreSQL's ~2.7 KB index-row limit (about
    // 400 names) the insert failed every time and the escalation was never sent. SQLite
    // has no such limit and keeps its key.
    R"sql(
DO $$
DECLARE c text;
BEGIN
  SELECT conname INTO c FROM pg_constraint
   WHERE conrelid = 'deliveries'::regclass AND contype = 'u'
     AND pg_get_constraintdef(oid) = 'UNIQUE (directive_id, recipient_id, channel, purpose, note)';
  IF c IS NOT NULL THEN
    EXECUTE format('ALTER TABLE deliveries DROP CONSTRAINT %I', c);
  END IF;
END $$;
CREATE UNIQUE INDEX deliveries_once ON deliveries(directive_id, recipient_id, channel, purpose, md5(note));
)sql",
    // 4: SQLite's step 9 (replays as jobs a stop does not cut short).
    R"sql(
CREATE TABLE replay_jobs (
  id            BIGSERIAL PRIMARY KEY,
  directive_id  TEXT COLLATE "C" NOT NULL REFERENCES directives(id),
  states        TEXT COLLATE "C" NOT NULL,
  channel       TEXT COLLATE "C" NOT NULL,
  recipient_id  TEXT COLLATE "C" NOT NULL,
  by_name       TEXT COLLATE "C" NOT NULL,
  reason        TEXT COLLATE "C" NOT NULL,
  cursor        BIGINT NOT NULL,
  replayed      BIGINT NOT NULL,
  skipped       BIGINT NOT NULL,
  done          BIGINT NOT NULL,
  created_ms    BIGINT NOT NULL
);
CREATE INDEX replay_jobs_open ON replay_jobs(directive_id) WHERE done = 0;
CREATE INDEX deliveries_directive ON deliveries(directive_id, id);
)sql",
};

}  // namespace herald::migrations
