// Package webhook holds webhook subscriptions (events out), their outbox
// deliveries and attempts, and hooks (signed calls in from CI that create a
// change). The delivery service that sends the outbox is package webhook at the top.
package webhook
