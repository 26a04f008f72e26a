-- The compliance gate (dialer/compliance/): policy packs and which campaign uses which,
-- do-not-call lists, the gate's refusals, and an audit log nobody can rewrite.
--
-- Who acts: the store sets `SET LOCAL bankcc.actor = '…'` in the transaction; the audit
-- triggers record it (or the database role when it is not set).

-- Every version of every pack ever loaded, as text. A (name, version) is written once:
-- a changed pack needs a new version, so old decisions can always be re-read against the
-- exact rules they were made under.
CREATE TABLE policy_packs (
    name        text        NOT NULL,
    version     integer     NOT NULL CHECK (version >= 1),
    title       text        NOT NULL,
    sha256      text        NOT NULL,
    body        text        NOT NULL,  -- the YAML as loaded
    loaded_by   text        NOT NULL,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);

-- The pack a campaign is dialled under. No row: the default for its kind
-- (dialer/compliance/policy.py DEFAULT_PACK_BY_KIND). version NULL: the newest loaded.
CREATE TABLE campaign_policy (
    campaign_id   bigint      PRIMARY KEY REFERENCES campaigns (id),
    pack_name     text        NOT NULL,
    pack_version  integer,
    selected_by   text        NOT NULL,
    selected_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (pack_name, pack_version) REFERENCES policy_packs (name, version)
);

-- Do-not-call entries, E.164. scope global: never call the number for any campaign;
-- scope campaign: not for that campaign. Entries are only ever added (no update, no
-- delete): the list as it was at any moment can be rebuilt from added_at.
CREATE TABLE dnc_imports (
    id           bigserial   PRIMARY KEY,
    filename     text        NOT NULL,
    sha256       text        NOT NULL,
    scope        text        NOT NULL CHECK (scope IN ('global', 'campaign')),
    campaign_id  bigint      REFERENCES campaigns (id),
    rows_read    bigint      NOT NULL DEFAULT 0,
    rows_added   bigint      NOT NULL DEFAULT 0,
    rows_invalid bigint      NOT NULL DEFAULT 0,
    imported_by  text        NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);

CREATE TABLE dnc_entries (
    id           bigserial   PRIMARY KEY,
    phone        text        NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{5,14}$'),
    scope        text        NOT NULL CHECK (scope IN ('global', 'campaign')),
    campaign_id  bigint      REFERENCES campaigns (id),
    source       text        NOT NULL CHECK (source IN ('opt_out_call', 'agent', 'import', 'manual', 'refusal')),
    note         text        NOT NULL DEFAULT '',
    -- Provenance pointers, not foreign keys: a per-row key check would slow a national
    -- list's import several-fold, and neither row they name is ever deleted.
    attempt_id   bigint,                 -- attempts.id: the call it was captured on
    import_id    bigint,                 -- dnc_imports.id
    added_by     text        NOT NULL,
    added_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK ((scope = 'campaign') = (campaign_id IS NOT NULL))
);
-- One entry per number and list; a second opt-out or import of the number adds nothing.
CREATE UNIQUE INDEX dnc_entries_one_per_list ON dnc_entries (phone, scope, campaign_id) NULLS NOT DISTINCT;

-- Contacts the gate did not let through: deny (the contact is excluded) or defer (back
-- to retry at `until`). Allowed calls keep their decision in attempts.decision.
CREATE TABLE compliance_decisions (
    id           bigserial   PRIMARY KEY,
    campaign_id  bigint      NOT NULL REFERENCES campaigns (id),
    contact_id   bigint      NOT NULL REFERENCES contacts (id),
    phone        text        NOT NULL,
    verdict      text        NOT NULL CHECK (verdict IN ('deny', 'defer')),
    until        timestamptz,
    policy       text        NOT NULL,  -- pack@version
    decision     jsonb       NOT NULL,  -- every rule's evaluation (dialer.compliance.model)
    dialer_id    text        NOT NULL,
    decided_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((verdict = 'defer') = (until IS NOT NULL))
);
CREATE INDEX compliance_decisions_by_contact ON compliance_decisions (contact_id, id);
CREATE INDEX compliance_decisions_by_phone ON compliance_decisions (phone, decided_at);

-- History lookups of the gate: attempts to a number, recent first.
CREATE INDEX attempts_by_phone ON attempts (phone, created_at);
CREATE INDEX attempts_abandonment ON attempts (campaign_id, answer_at) WHERE answer_at IS NOT NULL;

-- Append-only audit of every change to policies, selections and lists.
CREATE TABLE compliance_audit (
    id           bigserial   PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor        text        NOT NULL,
    action       text        NOT NULL,  -- e.g. INSERT campaign_policy, dnc.import
    object       text        NOT NULL,  -- table or thing changed
    object_id    text,
    before       jsonb,
    after        jsonb
);

CREATE FUNCTION compliance_actor() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT COALESCE(NULLIF(current_setting('bankcc.actor', true), ''), 'db:' || current_user)
$$;

CREATE FUNCTION compliance_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

-- Rows of these tables are facts about the past: they are never changed or removed.
CREATE TRIGGER compliance_audit_append_only BEFORE UPDATE OR DELETE ON compliance_audit
    FOR EACH ROW EXECUTE FUNCTION compliance_refuse_change();
CREATE TRIGGER compliance_audit_no_truncate BEFORE TRUNCATE ON compliance_audit
    FOR EACH STATEMENT EXECUTE FUNCTION compliance_refuse_change();
CREATE TRIGGER policy_packs_append_only BEFORE UPDATE OR DELETE ON policy_packs
    FOR EACH ROW EXECUTE FUNCTION compliance_refuse_change();
CREATE TRIGGER dnc_entries_append_only BEFORE UPDATE OR DELETE ON dnc_entries
    FOR EACH ROW EXECUTE FUNCTION compliance_refuse_change();
CREATE TRIGGER dnc_entries_no_truncate BEFORE TRUNCATE ON dnc_entries
    FOR EACH STATEMENT EXECUTE FUNCTION compliance_refuse_change();
CREATE TRIGGER compliance_decisions_append_only BEFORE UPDATE OR DELETE ON compliance_decisions
    FOR EACH ROW EXECUTE FUNCTION compliance_refuse_change();

-- Audit: one row per changed row of the small tables, one per statement for DNC entries
-- (an import adds millions: the row carries the count and, for small changes, the entries).
CREATE FUNCTION compliance_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_row jsonb := CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN to_jsonb(OLD) - 'body' END;
    new_row jsonb := CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN to_jsonb(NEW) - 'body' END;
    r jsonb := COALESCE(new_row, old_row);
BEGIN
    INSERT INTO compliance_audit (actor, action, object, object_id, before, after)
    VALUES (compliance_actor(), TG_OP, TG_TABLE_NAME,
            CASE TG_TABLE_NAME WHEN 'campaign_policy' THEN r->>'campaign_id'
                               WHEN 'policy_packs' THEN (r->>'name') || '@' || (r->>'version') END,
            old_row, new_row);
    RETURN NULL;
END $$;

CREATE TRIGGER campaign_policy_audit AFTER INSERT OR UPDATE OR DELETE ON campaign_policy
    FOR EACH ROW EXECUTE FUNCTION compliance_audit_row();
CREATE TRIGGER policy_packs_audit AFTER INSERT ON policy_packs
    FOR EACH ROW EXECUTE FUNCTION compliance_audit_row();

CREATE FUNCTION compliance_audit_dnc() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    sample jsonb;
BEGIN
    SELECT count(*) INTO n FROM new_rows;
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    IF n <= 100 THEN
        SELECT jsonb_agg(to_jsonb(r)) INTO sample FROM new_rows r;
    END IF;
    INSERT INTO compliance_audit (actor, action, object, object_id, before, after)
    SELECT compliance_actor(), 'INSERT', 'dnc_entries',
           CASE WHEN count(DISTINCT import_id) = 1 THEN 'import ' || min(import_id) END, NULL,
           jsonb_build_object('rows', n, 'scopes', jsonb_agg(DISTINCT scope), 'sources', jsonb_agg(DISTINCT source),
                              'entries', sample)
    FROM new_rows;
    RETURN NULL;
END $$;

CREATE TRIGGER dnc_entries_audit AFTER INSERT ON dnc_entries
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION compliance_audit_dnc();
