-- Every write made through the API or the pages, and every user change, one row each:
-- who, what, when, with what result. Append-only (a trigger refuses UPDATE, DELETE and
-- TRUNCATE), so nobody can edit the record of what they did.
CREATE TABLE api_audit (
    id        bigserial   PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text        NOT NULL,
    role      text,
    method    text        NOT NULL,  -- POST, PUT, DELETE; CLI for the command line
    path      text        NOT NULL,  -- the route (its template, never query strings with numbers)
    target    text,                  -- the concrete path
    status    integer     NOT NULL
);
CREATE INDEX api_audit_by_time ON api_audit (at);

CREATE FUNCTION api_audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'api_audit is append-only: % is not allowed', TG_OP;
END $$;
CREATE TRIGGER api_audit_append_only BEFORE UPDATE OR DELETE ON api_audit
    FOR EACH ROW EXECUTE FUNCTION api_audit_refuse_change();
CREATE TRIGGER api_audit_no_truncate BEFORE TRUNCATE ON api_audit
    FOR EACH STATEMENT EXECUTE FUNCTION api_audit_refuse_change();
