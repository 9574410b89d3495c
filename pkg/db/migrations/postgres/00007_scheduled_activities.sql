-- +goose Up
-- Scheduled activities: a cron schedule that creates changes (kind 'change')
-- or workflow runs (kind 'workflow') on a node; kind 'retention' is the
-- internal pruning job, which has no node and no API document.
CREATE TABLE scheduled_activities (
    id                  uuid PRIMARY KEY,
    kind                text NOT NULL,
    node_id             uuid REFERENCES nodes(id),
    action              text,
    workflow_code       text,
    workflow_version    integer,
    git_remote_id       uuid REFERENCES git_remotes(id),
    git_remote_name     text,
    git_rev             text,
    cron_schedule       text NOT NULL,
    timezone            text NOT NULL DEFAULT 'UTC',
    repeat              boolean NOT NULL DEFAULT true,
    enabled             boolean NOT NULL DEFAULT true,
    new_commits_only    boolean NOT NULL DEFAULT false,
    misfire             text NOT NULL DEFAULT 'skip',
    misfire_deadline_seconds integer NOT NULL DEFAULT 0,
    metadata            jsonb NOT NULL DEFAULT '{}',
    property_overrides  jsonb NOT NULL DEFAULT '{}',
    next_run_at         timestamptz,
    last_fired_at       timestamptz,
    last_commit_sha     text,
    last_run_id         uuid,
    created_by          text NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX scheduled_activities_due ON scheduled_activities(enabled, next_run_at);
CREATE INDEX scheduled_activities_node ON scheduled_activities(node_id, id);

-- A firing is one scheduled fire time of one activity, and what became of it
-- (fired, skipped, missed). It is written in the transaction that creates the
-- change or run, so its key is what makes a firing happen exactly once.
CREATE TABLE scheduled_firings (
    activity_id uuid NOT NULL REFERENCES scheduled_activities(id) ON DELETE CASCADE,
    fire_at     timestamptz NOT NULL,
    outcome     text NOT NULL,
    run_id      uuid,
    reason      text,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (activity_id, fire_at)
);

-- One row per lease name: the replica that holds it evaluates schedules.
CREATE TABLE scheduler_leases (
    name       text PRIMARY KEY,
    owner      text NOT NULL,
    expires_at timestamptz NOT NULL,
    renewed_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE scheduler_leases;
DROP TABLE scheduled_firings;
DROP TABLE scheduled_activities;
