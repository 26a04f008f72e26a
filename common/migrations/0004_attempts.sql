-- Dialing: the lead hopper's leases on contacts, the dialer processes, and one row
-- per call attempt (dialer/hopper.py, dialer/attempts.py, dialer/reconcile.py).
--
-- A contact moves   new|retry --(hopper lease)--> scheduled --(attempt row)--> dialing
--                   --(attempt closed)--> done | retry | failed
-- and back from scheduled to new|retry when a lease is released or has expired.
-- Only the process holding the lease may turn it into an attempt, and only the
-- attempt's close (or reconciliation against Asterisk) takes a contact out of
-- 'dialing', so no contact is ever dialled twice at once.
ALTER TABLE contacts
    ADD COLUMN next_attempt_at  timestamptz,  -- status retry: not before this
    ADD COLUMN lease_owner      text,         -- status scheduled: the dialer holding it in its hopper
    ADD COLUMN lease_expires_at timestamptz,  -- ... until then; after it any dialer may take it
    ADD COLUMN last_disposition text,
    ADD COLUMN last_attempt_at  timestamptz;

CREATE INDEX contacts_hopper ON contacts (campaign_id, status, next_attempt_at, id)
    WHERE status IN ('new', 'retry', 'scheduled');

-- Dialer processes and their heartbeats: attempts left open by a dialer that has
-- stopped beating are reconciled by another one.
CREATE TABLE dialer_nodes (
    id            text        PRIMARY KEY,  -- BANKCC_DIALER_ID, default host/instance (stable across restarts)
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per call placed. Written (state originating, with the Asterisk unique id
-- we give the channel) BEFORE the Originate is sent; closed with a disposition when
-- the call ends, or by reconciliation after a crash.
CREATE TABLE attempts (
    id                 bigserial   PRIMARY KEY,
    campaign_id        bigint      NOT NULL REFERENCES campaigns (id),
    contact_id         bigint      NOT NULL REFERENCES contacts (id),
    phone              text        NOT NULL,          -- E.164, as dialled
    attempt_no         integer     NOT NULL CHECK (attempt_no >= 1),
    state              text        NOT NULL DEFAULT 'originating'
                                   CHECK (state IN ('originating', 'ringing', 'answered', 'connected', 'ended')),
    dialer_id          text        NOT NULL,          -- the process that owns the call (see dialer_nodes)
    dial_mode          text        NOT NULL,
    dial_string        text        NOT NULL,          -- e.g. PJSIP/+8613800000001@bankcc-sim
    action_id          text        NOT NULL UNIQUE,   -- AMI ActionID of the Originate
    unique_id          text        NOT NULL UNIQUE,   -- Asterisk Uniqueid, chosen by us (Originate ChannelId)
    channel            text,                          -- PJSIP/bankcc-sim-00000012
    created_at         timestamptz NOT NULL DEFAULT now(),
    originate_at       timestamptz,                   -- Originate sent
    ring_at            timestamptz,
    answer_at          timestamptz,
    agent_at           timestamptz,                   -- connected to an agent
    end_at             timestamptz,                   -- NULL after reconciliation if the end was not seen
    ring_seconds       numeric(9, 2),                 -- originate until answer (or until the end, unanswered)
    hold_seconds       numeric(9, 2),                 -- answer until an agent took it
    talk_seconds       numeric(9, 2),                 -- with the agent (or the machine) until the end
    originate_reason   integer,                       -- OriginateResponse Reason (4 answered, 3 no answer, ...)
    dial_status        text,                          -- DialEnd DialStatus
    amd_status         text,                          -- HUMAN | MACHINE | NOTSURE | HANGUP
    amd_cause          text,                          -- e.g. LONGGREETING-1500-1500
    queue              text,
    queue_status       text,                          -- QUEUESTATUS when the queue gave up (TIMEOUT, ...)
    agent              text,                          -- queue member name
    hangup_cause       integer,                       -- Q.850 cause of the customer's channel
    hangup_cause_text  text,
    hangup_by          text        CHECK (hangup_by IN ('customer', 'agent', 'system', 'network', 'unknown')),
    disposition        text        CHECK (disposition IN ('answered_human', 'machine', 'no_answer', 'busy',
                                                          'failed', 'dropped', 'abandoned', 'unknown')),
    disposition_reason text,                          -- one line: why this disposition
    next_status        text,                          -- what the contact became: done | retry | failed
    next_attempt_at    timestamptz,
    closed_by          text        CHECK (closed_by IN ('events', 'reconcile')),
    decision           jsonb       NOT NULL DEFAULT '{}',  -- why it was dialled: pacing, compliance gate (placeholder)
    facts              jsonb       NOT NULL DEFAULT '{}',  -- the AMI facts the disposition was made from
    CHECK ((state = 'ended') = (disposition IS NOT NULL)),
    UNIQUE (contact_id, attempt_no)
);
-- The database itself refuses a second open attempt for a contact.
CREATE UNIQUE INDEX attempts_one_open_per_contact ON attempts (contact_id) WHERE state <> 'ended';
CREATE INDEX attempts_open_by_dialer ON attempts (dialer_id) WHERE state <> 'ended';
CREATE INDEX attempts_by_campaign ON attempts (campaign_id, id);
