-- +goose Up
-- Idempotency keys sent with POSTs: one row per (user, key), reserved before
-- the request runs; the response is stored when it finishes (see model/idempotency.go).
CREATE TABLE idempotency_keys (
    id               text PRIMARY KEY,
    user_id          text NOT NULL,
    idempotency_key  text NOT NULL,
    request_hash     text NOT NULL,
    status           integer NOT NULL DEFAULT 0,
    response_headers text NOT NULL DEFAULT '{}',
    response_body    blob,
    created_at       datetime NOT NULL,
    completed_at     datetime
);
CREATE UNIQUE INDEX idempotency_keys_user_key ON idempotency_keys(user_id, idempotency_key);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);

-- +goose Down
DROP TABLE idempotency_keys;
