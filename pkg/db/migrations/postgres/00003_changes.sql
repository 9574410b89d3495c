-- +goose Up
CREATE TABLE changes (
    id                     uuid PRIMARY KEY,
    node_id                uuid NOT NULL REFERENCES nodes(id),
    action                 text NOT NULL,
    name                   text,
    status                 text NOT NULL,
    git_remote_id          uuid REFERENCES git_remotes(id),
    git_remote_name        text NOT NULL DEFAULT '',
    git_rev                text NOT NULL,
    commit_sha             text,
    template_version_id    uuid REFERENCES template_versions(id),
    mintmodel_id           uuid REFERENCES mintmodels(id),
    metadata               jsonb NOT NULL DEFAULT '{}',
    property_overrides     jsonb NOT NULL DEFAULT '{}',
    scheduled              boolean NOT NULL DEFAULT false,
    requires_approval_from text,
    created_by             text NOT NULL,
    original_change_id     uuid REFERENCES changes(id),
    created_at             timestamptz NOT NULL,
    started_at             timestamptz,
    finished_at            timestamptz,
    updated_at             timestamptz NOT NULL
);
CREATE INDEX changes_node ON changes(node_id, id);
CREATE INDEX changes_status ON changes(status, id);
CREATE INDEX changes_remote ON changes(git_remote_id);

-- The steps table is the work queue: workers claim status='queued' run steps
-- with row locks; a lease (lease_owner, lease_expires_at) marks a running step.
CREATE TABLE steps (
    id                       uuid PRIMARY KEY,
    change_id                uuid NOT NULL REFERENCES changes(id),
    parent_id                uuid REFERENCES steps(id),
    position                 integer NOT NULL,
    action                   text NOT NULL,
    name                     text,
    step_type                text NOT NULL DEFAULT 'standard',
    kind                     text NOT NULL,
    run                      text,
    env                      jsonb NOT NULL DEFAULT '{}',
    timeout_seconds          integer NOT NULL DEFAULT 0,
    child_execution_strategy text NOT NULL DEFAULT 'sequential',
    requires_approval_from   text,
    status                   text NOT NULL,
    skip_on_retry            boolean NOT NULL DEFAULT false,
    approved_by              jsonb NOT NULL DEFAULT '[]',
    rejected_by              jsonb NOT NULL DEFAULT '[]',
    continued_by             jsonb NOT NULL DEFAULT '[]',
    lease_owner              text,
    lease_expires_at         timestamptz,
    queued_at                timestamptz,
    created_at               timestamptz NOT NULL,
    started_at               timestamptz,
    finished_at              timestamptz,
    updated_at               timestamptz NOT NULL
);
CREATE INDEX steps_change ON steps(change_id, position);
CREATE INDEX steps_queue ON steps(status, queued_at);
CREATE INDEX steps_lease ON steps(status, lease_expires_at);

CREATE TABLE log_lines (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    change_id uuid NOT NULL,
    step_id   uuid NOT NULL,
    message   text NOT NULL,
    logged_at timestamptz NOT NULL
);
CREATE INDEX log_lines_change ON log_lines(change_id, id);
CREATE INDEX log_lines_step ON log_lines(step_id, id);

-- +goose Down
DROP TABLE log_lines;
DROP TABLE steps;
DROP TABLE changes;
