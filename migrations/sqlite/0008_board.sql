-- The queue board shows every organisation's jobs, so only the admin keys of an organisation
-- that operates the platform may sign in to it (not any customer's admin key).
ALTER TABLE organisations ADD COLUMN operates_platform BOOLEAN NOT NULL DEFAULT FALSE;

-- Board sign-ins. The browser holds a random token in an HttpOnly cookie; only its SHA-256 is
-- stored. Each session has its own CSRF token, sent back in every form that changes something.
CREATE TABLE board_sessions (
    token_hash  TEXT PRIMARY KEY,
    key_id      TEXT NOT NULL REFERENCES api_keys (id),
    csrf_token  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX board_sessions_by_expiry ON board_sessions (expires_at);
