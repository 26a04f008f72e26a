-- People who use the API and the pages (common/auth.py, common/users.py).
-- Tokens and session ids are kept only as SHA-256 hashes: the database never
-- holds anything that would let its reader act as a user.
CREATE TABLE users (
    name              text        PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9._-]{1,63}$'),
    role              text        NOT NULL CHECK (role IN ('campaign_manager', 'flow_designer', 'compliance',
                                                           'supervisor', 'admin')),
    token_hash        text        NOT NULL UNIQUE,
    token_created_at  timestamptz NOT NULL DEFAULT now(),
    disabled          boolean     NOT NULL DEFAULT false,
    created_by        text        NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE user_sessions (
    id_hash     text        PRIMARY KEY,
    user_name   text        NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    csrf_token  text        NOT NULL,           -- sent back with every page form / fetch that writes
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX user_sessions_expiry ON user_sessions (expires_at);
