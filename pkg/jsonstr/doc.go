// Package jsonstr quotes strings as JSON byte for byte as encoding/json
// does, without reflection: the one escaper behind the hand-written
// encoders of documents (pkg/jsonapi) and of log lines (model/run).
package jsonstr
