-- ctrlens schema version 9 (PostgreSQL): named users, their personal API tokens, and share links
-- (docs/design.md §4 "Access"). Ids are random text made by the server, the same on both backends.

-- A person who signs in: `role` is 'admin' or 'viewer'; `password` is an argon2id hash;
-- `generation` changes with a new password or a sign-out, which ends every session of the user.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password TEXT NOT NULL,
    generation TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- A user's API token for scripts: only its SHA-256 is kept; it acts as its user, with their role.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id);

-- A read-only link to one site's dashboard: only the SHA-256 of its token is kept, the
-- optional password as an argon2id hash ('' for none). Revoking deletes the row.
CREATE TABLE share_links (
    id TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    label TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    password TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX share_links_by_site ON share_links (site);
