-- +goose Up
-- Credentials (user, password, ssh key) are stored sealed by pkg/secret; NULL when unset.
CREATE TABLE git_remotes (
    id             text PRIMARY KEY,
    project_id     text NOT NULL REFERENCES nodes(id),
    name           text NOT NULL,
    url            text NOT NULL,
    archived       boolean NOT NULL DEFAULT false,
    disabled       boolean NOT NULL DEFAULT false,
    user_secret    text,
    password_secret text,
    ssh_key_secret text,
    created_at     datetime NOT NULL,
    updated_at     datetime NOT NULL
);
CREATE UNIQUE INDEX git_remotes_name ON git_remotes(project_id, name);

CREATE TABLE templates (
    id             text PRIMARY KEY,
    project_id     text NOT NULL REFERENCES nodes(id),
    code           text NOT NULL,
    name           text NOT NULL,
    description    text,
    url            text NOT NULL,
    archived       boolean NOT NULL DEFAULT false,
    disabled       boolean NOT NULL DEFAULT false,
    user_secret    text,
    password_secret text,
    ssh_key_secret text,
    created_at     datetime NOT NULL,
    updated_at     datetime NOT NULL
);
CREATE UNIQUE INDEX templates_code ON templates(project_id, code);

-- state: initializing -> ready | broken; resolution runs in the background.
CREATE TABLE template_versions (
    id            text PRIMARY KEY,
    template_id   text NOT NULL REFERENCES templates(id),
    version       text NOT NULL,
    description   text NOT NULL DEFAULT '',
    state         text NOT NULL,
    state_reason  text,
    created_by    text NOT NULL,
    archived      boolean NOT NULL DEFAULT false,
    has_mintmodel boolean,
    git_rev       text NOT NULL,
    commit_sha    text,
    actions       text NOT NULL DEFAULT '[]',
    created_at    datetime NOT NULL,
    updated_at    datetime NOT NULL
);
CREATE UNIQUE INDEX template_versions_version ON template_versions(template_id, version);
CREATE INDEX template_versions_state ON template_versions(state);

ALTER TABLE nodes ADD COLUMN template_version_id text REFERENCES template_versions(id);

-- Which template version an asset used, and when.
CREATE TABLE template_version_history (
    id                  text PRIMARY KEY,
    asset_id            text NOT NULL REFERENCES nodes(id),
    template_version_id text NOT NULL REFERENCES template_versions(id),
    active_from         datetime NOT NULL,
    active_to           datetime
);
CREATE INDEX template_version_history_asset ON template_version_history(asset_id, id);

CREATE TABLE mintmodels (
    id         text PRIMARY KEY,
    asset_id   text NOT NULL REFERENCES nodes(id),
    data       text NOT NULL,
    sha256     text NOT NULL,
    created_at datetime NOT NULL,
    updated_at datetime NOT NULL
);
CREATE INDEX mintmodels_asset ON mintmodels(asset_id, id);
-- One row per distinct MintModel of an asset; its history rows point at it.
CREATE UNIQUE INDEX mintmodels_sha256 ON mintmodels(asset_id, sha256);

CREATE TABLE mintmodel_history (
    id           text PRIMARY KEY,
    asset_id     text NOT NULL REFERENCES nodes(id),
    mintmodel_id text NOT NULL REFERENCES mintmodels(id),
    created_at   datetime NOT NULL,
    updated_at   datetime NOT NULL
);
CREATE INDEX mintmodel_history_asset ON mintmodel_history(asset_id, id);

-- The changes that ran with a history entry's MintModel: a change whose
-- MintModel equals the latest one joins that entry instead of adding one.
CREATE TABLE mintmodel_history_changes (
    mintmodel_history_id text NOT NULL REFERENCES mintmodel_history(id),
    change_id            text NOT NULL,
    created_at           datetime NOT NULL,
    PRIMARY KEY (mintmodel_history_id, change_id)
);
CREATE INDEX mintmodel_history_changes_change ON mintmodel_history_changes(change_id);

-- +goose Down
DROP TABLE mintmodel_history_changes;
DROP TABLE mintmodel_history;
DROP TABLE mintmodels;
DROP TABLE template_version_history;
ALTER TABLE nodes DROP COLUMN template_version_id;
DROP TABLE template_versions;
DROP TABLE templates;
DROP TABLE git_remotes;
