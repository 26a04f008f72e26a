-- Outbound campaigns, their call lists, and the uploads that filled them.
--
-- A campaign's state only changes through dialer.campaigns.transition(); each
-- change (and the creation) is one campaign_events row saying who and when.
CREATE TABLE campaigns (
    id              bigserial   PRIMARY KEY,
    kind            text        NOT NULL CHECK (kind IN ('activation', 'installments', 'collection', 'care')),
    name            text        NOT NULL,
    caller_id       text        NOT NULL,
    trunk           text        NOT NULL,  -- dial prefix or trunk, e.g. PJSIP/cn-mobile
    dial_mode       text        NOT NULL CHECK (dial_mode IN ('preview', 'progressive', 'power', 'predictive')),
    agent_queue     text        NOT NULL,
    flow_name       text        NOT NULL,  -- outbound IVR flow the answered call runs
    machine_policy  text        NOT NULL CHECK (machine_policy IN ('hangup', 'message', 'flow')),
    machine_target  text,                  -- prompt (message) or flow (flow) for answering machines
    retry_rules     jsonb       NOT NULL,  -- {disposition: {delay_seconds, max_tries}}, see validate_retry_rules
    schedule        jsonb       NOT NULL,  -- {start_date, end_date, windows, holidays}, see validate_schedule
    default_region  text        NOT NULL DEFAULT 'CN',
    state           text        NOT NULL DEFAULT 'draft'
                                CHECK (state IN ('draft', 'running', 'paused', 'finished', 'archived')),
    created_by      text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((machine_policy = 'hangup') = (machine_target IS NULL))
);
CREATE INDEX campaigns_state ON campaigns (state, id);

CREATE TABLE campaign_events (
    id           bigserial   PRIMARY KEY,
    campaign_id  bigint      NOT NULL REFERENCES campaigns (id),
    action       text        NOT NULL,  -- create | start | pause | resume | finish | archive
    from_state   text,                  -- NULL for create
    to_state     text        NOT NULL,
    actor        text        NOT NULL,
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaign_events_by_campaign ON campaign_events (campaign_id, id);

-- One row per file given to a campaign. The same content (sha256) given to
-- the same campaign again is the same upload: its result is returned again.
CREATE TABLE list_uploads (
    id                     bigserial   PRIMARY KEY,
    campaign_id            bigint      NOT NULL REFERENCES campaigns (id),
    filename               text        NOT NULL,
    sha256                 text        NOT NULL,
    size_bytes             bigint      NOT NULL,
    format                 text        NOT NULL,  -- csv | xlsx | unknown
    encoding               text,                  -- csv only: utf-8 | utf-8-sig | gb18030
    columns                jsonb       NOT NULL DEFAULT '{}',  -- field -> header actually used
    status                 text        NOT NULL DEFAULT 'processing'
                                       CHECK (status IN ('processing', 'done', 'failed')),
    rows_total             integer     NOT NULL DEFAULT 0,  -- data rows read (blank rows not counted)
    rows_accepted          integer     NOT NULL DEFAULT 0,  -- new contacts
    rows_rejected          integer     NOT NULL DEFAULT 0,  -- rows in list_row_errors
    rows_duplicate_in_file integer     NOT NULL DEFAULT 0,  -- same phone earlier in this file
    rows_duplicate_in_campaign integer NOT NULL DEFAULT 0,  -- phone already in the campaign
    last_row               integer     NOT NULL DEFAULT 0,  -- last source row committed (resume point)
    error_code             text,                  -- file-level problem of a failed upload
    error_message          text,
    uploaded_by            text        NOT NULL,
    started_at             timestamptz NOT NULL DEFAULT now(),
    finished_at            timestamptz,
    UNIQUE (campaign_id, sha256)
);

-- One row per contact per campaign. The dialer (part 2) owns status/attempts.
CREATE TABLE contacts (
    id           bigserial   PRIMARY KEY,
    campaign_id  bigint      NOT NULL REFERENCES campaigns (id),
    phone        text        NOT NULL,                 -- E.164
    alt_phones   text[]      NOT NULL DEFAULT '{}',    -- E.164
    name         text        NOT NULL DEFAULT '',
    account_ref  text        NOT NULL DEFAULT '',      -- account or card reference: mask before logging
    due_amount   numeric(14, 2),
    due_date     date,
    custom       jsonb       NOT NULL DEFAULT '{}',    -- the upload's other columns, header -> text
    time_zone    text,                                 -- callee's IANA zone; NULL when unknown
    upload_id    bigint      REFERENCES list_uploads (id),
    source_row   integer,                              -- row number in the uploaded file
    status       text        NOT NULL DEFAULT 'new'
                             CHECK (status IN ('new', 'scheduled', 'dialing', 'retry', 'done', 'failed', 'excluded')),
    attempts     integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT contacts_campaign_phone UNIQUE (campaign_id, phone)
);

-- Rows of an upload that were not loaded, one reason per row (the first problem found).
CREATE TABLE list_row_errors (
    upload_id    bigint  NOT NULL REFERENCES list_uploads (id) ON DELETE CASCADE,
    row_number   integer NOT NULL,
    column_name  text    NOT NULL,
    reason       text    NOT NULL,
    PRIMARY KEY (upload_id, row_number)
);
