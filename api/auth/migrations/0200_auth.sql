-- 0200_auth: the API's users, login sessions and integration tokens (IEC 62443-3-3 SR 1.1, 1.2, 1.5).
-- Owned by api/auth (numbers 0200-0299). Secrets are never stored: passwords as argon2id hashes,
-- session and API tokens as SHA-256 of 256-bit random values.

CREATE TABLE api_users (
    id            integer     GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text        NOT NULL UNIQUE CONSTRAINT api_users_name CHECK (username ~ '^[a-z][a-z0-9_.-]{1,63}$'),
    password_hash text        NOT NULL,
    role          text        NOT NULL CONSTRAINT api_users_role CHECK (role IN ('viewer', 'operator', 'engineer', 'admin')),
    disabled      boolean     NOT NULL DEFAULT false,
    created       timestamptz NOT NULL DEFAULT now(),
    updated       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_sessions (
    token_sha256 bytea       PRIMARY KEY,
    csrf_sha256  bytea       NOT NULL,
    user_id      integer     NOT NULL REFERENCES api_users (id) ON DELETE CASCADE,
    client_ip    text        NOT NULL DEFAULT '',
    created      timestamptz NOT NULL DEFAULT now(),
    expires      timestamptz NOT NULL
);
CREATE INDEX api_sessions_expires ON api_sessions (expires);

CREATE TABLE api_tokens (
    id           integer     GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text        NOT NULL,
    token_sha256 bytea       NOT NULL UNIQUE,
    user_id      integer     NOT NULL REFERENCES api_users (id) ON DELETE CASCADE,
    role         text        NOT NULL CONSTRAINT api_tokens_role CHECK (role IN ('viewer', 'operator', 'engineer', 'admin')),
    created      timestamptz NOT NULL DEFAULT now(),
    expires      timestamptz,
    revoked      timestamptz,
    last_used    timestamptz
);
