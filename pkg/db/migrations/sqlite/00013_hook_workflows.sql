-- +goose Up
-- A hook runs an action or a workflow (workflow_code, and version, or NULL
-- for the latest published one at each trigger), and may be disabled.
ALTER TABLE hooks ADD COLUMN workflow_code text;
ALTER TABLE hooks ADD COLUMN workflow_version integer;
ALTER TABLE hooks ADD COLUMN enabled boolean NOT NULL DEFAULT true;
-- The workflow run an accepted trigger of a workflow hook created.
ALTER TABLE hook_requests ADD COLUMN workflow_run_id text;

-- Bumped by every write to webhook subscriptions, in its transaction: a
-- process caches the enabled subscriptions' type patterns and reads this
-- one row to know the cache is current, so an event no subscription can
-- match costs no outbox statement.
CREATE TABLE webhook_generation (
    id         integer PRIMARY KEY CHECK (id = 1),
    generation bigint NOT NULL
);
INSERT INTO webhook_generation (id, generation) VALUES (1, 0);

-- +goose Down
DROP TABLE webhook_generation;
ALTER TABLE hook_requests DROP COLUMN workflow_run_id;
ALTER TABLE hooks DROP COLUMN enabled;
ALTER TABLE hooks DROP COLUMN workflow_version;
ALTER TABLE hooks DROP COLUMN workflow_code;
