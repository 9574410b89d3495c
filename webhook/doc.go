// Package webhook is the delivery service: it claims due webhook deliveries
// from the outbox (model/webhook), POSTs each event signed per Standard
// Webhooks, records the attempt and schedules retries with backoff.
package webhook
