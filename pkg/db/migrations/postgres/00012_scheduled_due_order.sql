-- +goose Up
-- The scheduler reads due activities in (next_run_at, id) order, a page at a
-- time; with id in the index a page is read in order instead of sorting every
-- activity due at the same instant again for each page.
CREATE INDEX scheduled_activities_due_order ON scheduled_activities(enabled, next_run_at, id);
DROP INDEX scheduled_activities_due;

-- +goose Down
CREATE INDEX scheduled_activities_due ON scheduled_activities(enabled, next_run_at);
DROP INDEX scheduled_activities_due_order;
