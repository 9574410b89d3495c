// Package metrics holds Steward's Prometheus collectors in one registry:
// HTTP requests, the engine's claims, steps and log lines, queue depth read
// at scrape time, the database pool and the Go runtime. A nil *Metrics
// records nothing, so services need no checks.
package metrics
