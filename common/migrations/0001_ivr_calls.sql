-- Every inbound IVR call, and one row per flow step it walked.
CREATE TABLE calls (
    id            bigserial PRIMARY KEY,
    channel       text        NOT NULL,
    unique_id     text        NOT NULL,
    caller_id     text        NOT NULL DEFAULT '',
    dialed        text        NOT NULL DEFAULT '',
    flow_name     text        NOT NULL,
    flow_version  text        NOT NULL,
    language      text        NOT NULL,
    started_at    timestamptz NOT NULL,
    ended_at      timestamptz,
    -- completed | caller_hangup | error | channel_error | loop_limit; NULL while the call runs
    outcome       text,
    last_node     text
);
CREATE INDEX calls_started_at ON calls (started_at);
CREATE INDEX calls_unique_id ON calls (unique_id);

CREATE TABLE call_steps (
    call_id     bigint      NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    seq         integer     NOT NULL,
    node        text        NOT NULL,
    node_type   text        NOT NULL,
    input       text,
    result      text        NOT NULL,
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz NOT NULL,
    duration_ms integer GENERATED ALWAYS AS ((EXTRACT(EPOCH FROM (ended_at - started_at)) * 1000)::integer) STORED,
    detail      jsonb       NOT NULL DEFAULT '{}',
    PRIMARY KEY (call_id, seq)
);
