// Package testutil builds what tests need: a fresh migrated database per test
// (SQLite, or PostgreSQL when STEWARD_TEST_POSTGRES_URL is set), an httptest
// server with an admin token, and a client that checks every response against openapi.yaml.
package testutil
