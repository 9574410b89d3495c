-- +goose Up
-- Hooks: a signed call from CI that creates a change on a node, acting as
-- the user who made the hook; the secret is sealed.
CREATE TABLE hooks (
    id                 uuid PRIMARY KEY,
    name               text NOT NULL DEFAULT '',
    node_id            uuid NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    node_path          text NOT NULL,
    action             text NOT NULL,
    git_remote_name    text,
    git_rev            text,
    template_version   text,
    property_overrides jsonb NOT NULL DEFAULT '{}',
    allow_rev_override boolean NOT NULL DEFAULT false,
    secret             text NOT NULL,
    created_by         text NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);
CREATE INDEX hooks_node ON hooks(node_id);

-- Every trigger, accepted or refused.
CREATE TABLE hook_requests (
    id          uuid PRIMARY KEY,
    hook_id     uuid NOT NULL REFERENCES hooks(id) ON DELETE CASCADE,
    outcome     text NOT NULL,
    status      integer NOT NULL,
    reason      text,
    scheme      text,
    git_rev     text,
    change_id   uuid,
    remote_addr text,
    created_at  timestamptz NOT NULL
);
CREATE INDEX hook_requests_hook ON hook_requests(hook_id, id);

-- Signatures (or GitHub delivery ids) already used, kept until they could no
-- longer pass the timestamp check: a replay is refused by this key.
CREATE TABLE hook_nonces (
    hook_id    uuid NOT NULL REFERENCES hooks(id) ON DELETE CASCADE,
    nonce      text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (hook_id, nonce)
);
CREATE INDEX hook_nonces_expiry ON hook_nonces(expires_at);

-- +goose Down
DROP TABLE hook_nonces;
DROP TABLE hook_requests;
DROP TABLE hooks;
