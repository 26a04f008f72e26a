-- Calls waiting in Asterisk queues, from AMI queue events (ivr/queue_events.py): how long
-- callers an IVR flow transferred waited, and whether an agent answered or they gave up.
CREATE TABLE queue_waits (
    id            bigserial   PRIMARY KEY,
    unique_id     text        NOT NULL,            -- the caller's channel (calls.unique_id for IVR calls)
    queue         text        NOT NULL,
    joined_at     timestamptz NOT NULL,
    answered_at   timestamptz,                     -- AgentConnect
    left_at       timestamptz,                     -- QueueCallerLeave (answered or not)
    abandoned     boolean     NOT NULL DEFAULT false,  -- QueueCallerAbandon: hung up while waiting
    wait_seconds  numeric(9, 2),                   -- HoldTime as Asterisk reports it
    agent         text
);
CREATE INDEX queue_waits_by_call ON queue_waits (unique_id);
CREATE INDEX queue_waits_open ON queue_waits (unique_id, queue) WHERE left_at IS NULL;
