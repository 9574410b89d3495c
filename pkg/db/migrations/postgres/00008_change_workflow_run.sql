-- +goose Up
-- A change a workflow step created names its run, so its document relates
-- the run and the workflow.
ALTER TABLE changes ADD COLUMN workflow_run_id uuid REFERENCES workflow_runs(id);
CREATE INDEX changes_workflow_run ON changes(workflow_run_id);

-- +goose Down
DROP INDEX changes_workflow_run;
ALTER TABLE changes DROP COLUMN workflow_run_id;
