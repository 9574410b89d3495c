-- +goose Up
-- Authorisation: rules (a path and what they allow there), policies grouping
-- rules, and assignments binding a policy to users and groups. Events name
-- the node they belong to, so an event list can be filtered by readable nodes.
CREATE TABLE authorisation_rules (
    id          text PRIMARY KEY,
    name        text,
    path        text NOT NULL,
    readable    boolean NOT NULL,
    updatable   boolean NOT NULL,
    executable  boolean NOT NULL,
    system      boolean NOT NULL DEFAULT false,
    created_by  text NOT NULL,
    created_at  datetime NOT NULL,
    updated_at  datetime NOT NULL
);
CREATE TABLE authorisation_policies (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    description text,
    system      boolean NOT NULL DEFAULT false,
    created_by  text NOT NULL,
    created_at  datetime NOT NULL,
    updated_at  datetime NOT NULL
);
CREATE UNIQUE INDEX authorisation_policies_name ON authorisation_policies(name);
CREATE TABLE policy_rules (
    id          text PRIMARY KEY,
    policy_id   text NOT NULL REFERENCES authorisation_policies(id) ON DELETE CASCADE,
    rule_id     text NOT NULL REFERENCES authorisation_rules(id) ON DELETE CASCADE,
    created_by  text NOT NULL,
    created_at  datetime NOT NULL,
    updated_at  datetime NOT NULL
);
CREATE UNIQUE INDEX policy_rules_pair ON policy_rules(policy_id, rule_id);
CREATE INDEX policy_rules_rule ON policy_rules(rule_id);
CREATE TABLE policy_assignments (
    id          text PRIMARY KEY,
    policy_id   text NOT NULL REFERENCES authorisation_policies(id) ON DELETE CASCADE,
    username    text,
    groupname   text,
    created_by  text NOT NULL,
    created_at  datetime NOT NULL,
    updated_at  datetime NOT NULL
);
CREATE INDEX policy_assignments_policy ON policy_assignments(policy_id);
CREATE INDEX policy_assignments_username ON policy_assignments(username);
CREATE INDEX policy_assignments_groupname ON policy_assignments(groupname);
ALTER TABLE events ADD COLUMN node_id text;
CREATE INDEX events_node ON events(node_id, created_at);

-- +goose Down
DROP INDEX events_node;
ALTER TABLE events DROP COLUMN node_id;
DROP TABLE policy_assignments;
DROP TABLE policy_rules;
DROP TABLE authorisation_policies;
DROP TABLE authorisation_rules;
