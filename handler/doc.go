// Package handler is Steward's HTTP API: gorilla/mux routes, one file per
// resource family, and the middleware around the whole router (negotiation,
// limits, recovery, authentication). Handlers parse, call one model operation, render.
package handler
