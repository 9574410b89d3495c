-- +goose Up
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    username      text NOT NULL UNIQUE,
    auth_provider text NOT NULL DEFAULT 'local',
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

CREATE TABLE groups (
    id              uuid PRIMARY KEY,
    cn              text NOT NULL UNIQUE,
    alternative_cns jsonb NOT NULL DEFAULT '[]',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

CREATE TABLE group_members (
    group_id uuid NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id  uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members(user_id);

CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         text NOT NULL DEFAULT '',
    token_hash   text NOT NULL UNIQUE,
    prefix       text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE property_sets (
    id         uuid PRIMARY KEY,
    kind       text NOT NULL,
    owner_type text NOT NULL,
    owner_id   uuid NOT NULL,
    data       jsonb NOT NULL DEFAULT '{}',
    version    integer NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX property_sets_owner ON property_sets(owner_id, kind);

CREATE TABLE property_set_versions (
    id              uuid PRIMARY KEY,
    property_set_id uuid NOT NULL REFERENCES property_sets(id) ON DELETE CASCADE,
    version         integer NOT NULL,
    data            jsonb NOT NULL,
    step_id         uuid,
    created_by      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX property_set_versions_number ON property_set_versions(property_set_id, version);

CREATE TABLE nodes (
    id               uuid PRIMARY KEY,
    kind             text NOT NULL,
    code             text NOT NULL,
    name             text NOT NULL,
    description      text,
    archived         boolean NOT NULL DEFAULT false,
    project_type     text,
    parent_id        uuid REFERENCES nodes(id),
    project_id       uuid REFERENCES nodes(id),
    path             text NOT NULL UNIQUE,
    properties_id    uuid NOT NULL,
    settings_id      uuid NOT NULL,
    template_name    text,
    template_version text,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX nodes_parent ON nodes(parent_id, kind, id);
CREATE INDEX nodes_project ON nodes(project_id);

CREATE TABLE bookmarks (
    id          uuid PRIMARY KEY,
    node_id     uuid NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    url         text NOT NULL,
    description text NOT NULL DEFAULT '',
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX bookmarks_node ON bookmarks(node_id, id);

CREATE TABLE events (
    id          uuid PRIMARY KEY,
    type        text NOT NULL,
    username    text NOT NULL,
    system      boolean NOT NULL DEFAULT false,
    source_type text,
    source_id   uuid,
    source_link text,
    attributes  jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL
);
CREATE INDEX events_created ON events(created_at, id);
CREATE INDEX events_type ON events(type);

-- +goose Down
DROP TABLE events;
DROP TABLE bookmarks;
DROP TABLE nodes;
DROP TABLE property_set_versions;
DROP TABLE property_sets;
DROP TABLE api_tokens;
DROP TABLE group_members;
DROP TABLE groups;
DROP TABLE users;
