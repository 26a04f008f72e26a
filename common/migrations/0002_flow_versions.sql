-- Every flow version that went live (content kept for rollback), and every
-- deploy, rollback or rejected change with who did it.
CREATE TABLE flow_versions (
    flow_name    text        NOT NULL,
    version      text        NOT NULL,  -- content hash
    content      text        NOT NULL,
    source       text        NOT NULL,
    first_seen   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (flow_name, version)
);

CREATE TABLE flow_deployments (
    id           bigserial   PRIMARY KEY,
    flow_name    text        NOT NULL,
    version      text        NOT NULL,
    action       text        NOT NULL CHECK (action IN ('deploy', 'rollback', 'rejected')),
    deployed_by  text        NOT NULL,
    deployed_at  timestamptz NOT NULL DEFAULT now(),
    detail       text        NOT NULL DEFAULT ''  -- lint errors of a rejected change
);
CREATE INDEX flow_deployments_by_flow ON flow_deployments (flow_name, id);
