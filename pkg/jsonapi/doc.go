// Package jsonapi is Steward's one JSON:API layer: it renders documents and
// errors, parses include/fields/filter/sort/page/limit/download query parameters
// (Ransack-style filters become SQL), decodes request bodies and streams CSV.
package jsonapi
