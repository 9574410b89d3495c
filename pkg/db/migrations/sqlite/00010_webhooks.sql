-- +goose Up
-- Webhook subscriptions: where events are POSTed, which ones (type patterns,
-- an optional node path prefix), and the sealed signing secret.
CREATE TABLE webhooks (
    id              text PRIMARY KEY,
    url             text NOT NULL,
    description     text NOT NULL DEFAULT '',
    event_types     text NOT NULL DEFAULT '[]',
    path_prefix     text NOT NULL DEFAULT '',
    enabled         boolean NOT NULL DEFAULT true,
    secret          text NOT NULL,
    failing_since   datetime,
    disabled_reason text,
    created_by      text NOT NULL,
    created_at      datetime NOT NULL,
    updated_at      datetime NOT NULL
);

-- One row per event type pattern of a subscription, in the two forms the
-- outbox statement matches with: glob (SQLite GLOB) and type_like (LIKE).
CREATE TABLE webhook_event_types (
    webhook_id text NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    glob       text NOT NULL,
    type_like  text NOT NULL,
    PRIMARY KEY (webhook_id, glob)
);

-- The outbox: one row per (subscription, event), written in the event's
-- transaction; next_attempt_at is when it is due (NULL once finished);
-- round_started_at starts the 24 hours of retries (creation, redelivery).
CREATE TABLE webhook_deliveries (
    id              text PRIMARY KEY,
    webhook_id      text NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id        text NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    event_type      text NOT NULL,
    status          text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at datetime,
    round_started_at datetime NOT NULL,
    claim           text,
    last_status     integer,
    last_error      text,
    delivered_at    datetime,
    created_at      datetime NOT NULL,
    updated_at      datetime NOT NULL,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX webhook_deliveries_event ON webhook_deliveries(event_id);

-- Every attempt at a delivery: what was sent (headers without the secret),
-- what came back (body cut at 4 KiB), how long it took.
CREATE TABLE webhook_attempts (
    id              text PRIMARY KEY,
    delivery_id     text NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    number          integer NOT NULL,
    started_at      datetime NOT NULL,
    request_headers text NOT NULL DEFAULT '{}',
    response_status integer,
    response_body   text,
    latency_us      bigint NOT NULL DEFAULT 0,
    error           text
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts(delivery_id, number);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_event_types;
DROP TABLE webhooks;
