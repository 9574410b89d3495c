-- +goose Up
-- Workflows are project-scoped; their content lives in versions. A published
-- version (draft = false) that ran or that a schedule names is immutable.
CREATE TABLE workflows (
    id          uuid PRIMARY KEY,
    project_id  uuid NOT NULL REFERENCES nodes(id),
    code        text NOT NULL,
    archived    boolean NOT NULL DEFAULT false,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE UNIQUE INDEX workflows_code ON workflows(project_id, code);

CREATE TABLE workflow_versions (
    id          uuid PRIMARY KEY,
    workflow_id uuid NOT NULL REFERENCES workflows(id),
    version     integer NOT NULL,
    name        text NOT NULL,
    description text,
    draft       boolean NOT NULL,
    archived    boolean NOT NULL DEFAULT false,
    ran         boolean NOT NULL DEFAULT false,
    source_yaml text NOT NULL,
    steps       jsonb NOT NULL DEFAULT '[]',
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE UNIQUE INDEX workflow_versions_number ON workflow_versions(workflow_id, version);

-- A run of a published version. parent_step_id is the workflow step of the
-- run that nested this one.
CREATE TABLE workflow_runs (
    id                  uuid PRIMARY KEY,
    workflow_id         uuid NOT NULL REFERENCES workflows(id),
    workflow_version_id uuid NOT NULL REFERENCES workflow_versions(id),
    project_id          uuid NOT NULL REFERENCES nodes(id),
    parent_step_id      uuid,
    status              text NOT NULL,
    scheduled           boolean NOT NULL DEFAULT false,
    metadata            jsonb NOT NULL DEFAULT '{}',
    property_overrides  jsonb NOT NULL DEFAULT '{}',
    created_by          text NOT NULL,
    created_at          timestamptz NOT NULL,
    started_at          timestamptz,
    finished_at         timestamptz,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX workflow_runs_workflow ON workflow_runs(workflow_id, id);
CREATE INDEX workflow_runs_project ON workflow_runs(project_id, id);
CREATE INDEX workflow_runs_status ON workflow_runs(status, id);

-- A run's step tree. A change step creates its change once (change_id is
-- unique), a workflow step its child run once (child_run_id is unique).
CREATE TABLE workflow_steps (
    id                        uuid PRIMARY KEY,
    run_id                    uuid NOT NULL REFERENCES workflow_runs(id),
    parent_id                 uuid REFERENCES workflow_steps(id),
    position                  integer NOT NULL,
    kind                      text NOT NULL,
    name                      text NOT NULL,
    child_execution_strategy  text NOT NULL DEFAULT 'sequential',
    status                    text NOT NULL,
    target                    text NOT NULL DEFAULT '',
    action                    text NOT NULL DEFAULT '',
    template_version          text,
    workflow_version          integer,
    property_overrides        jsonb NOT NULL DEFAULT '{}',
    start_time                timestamptz,
    requires_approval_from    text,
    approved_by               jsonb NOT NULL DEFAULT '[]',
    rejected_by               jsonb NOT NULL DEFAULT '[]',
    continued_by              jsonb NOT NULL DEFAULT '[]',
    change_id                 uuid REFERENCES changes(id),
    child_run_id              uuid REFERENCES workflow_runs(id),
    child_workflow_version_id uuid REFERENCES workflow_versions(id),
    skip_on_retry             boolean NOT NULL DEFAULT false,
    lock_version              integer NOT NULL DEFAULT 0,
    created_by                text NOT NULL,
    created_at                timestamptz NOT NULL,
    started_at                timestamptz,
    finished_at               timestamptz,
    updated_at                timestamptz NOT NULL
);
CREATE INDEX workflow_steps_run ON workflow_steps(run_id, position);
CREATE INDEX workflow_steps_status ON workflow_steps(status, id);
CREATE UNIQUE INDEX workflow_steps_change ON workflow_steps(change_id);
CREATE UNIQUE INDEX workflow_steps_child_run ON workflow_steps(child_run_id);

-- +goose Down
DROP TABLE workflow_steps;
DROP TABLE workflow_runs;
DROP TABLE workflow_versions;
DROP TABLE workflows;
