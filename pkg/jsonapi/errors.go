package jsonapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	steward "github.com/stewardhq/steward"
)

// ErrorObject is a JSON:API error object; status is a string, as the spec says.
type ErrorObject struct {
	Status string         `json:"status"`
	Code   string         `json:"code,omitempty"`
	Title  string         `json:"title"`
	Detail string         `json:"detail,omitempty"`
	Source *ErrorSource   `json:"source,omitempty"`
	Meta   map[string]any `json:"meta,omitempty"`
}

// ErrorSource points at the part of the request that caused the error.
type ErrorSource struct {
	Pointer   string `json:"pointer,omitempty"`
	Parameter string `json:"parameter,omitempty"`
}

// The kinds only HTTP has: the domain never meets them.
const (
	KindTooLarge      steward.Kind = "too_large"              // 413
	KindMethod        steward.Kind = "method_not_allowed"     // 405
	KindNotAcceptable steward.Kind = "not_acceptable"         // 406
	KindMediaType     steward.Kind = "unsupported_media_type" // 415
	KindTooMany       steward.Kind = "too_many_requests"      // 429
)

// statusOf is the one table from error kind to HTTP status.
var statusOf = map[steward.Kind]int{
	steward.KindInvalid:      http.StatusUnprocessableEntity,
	steward.KindBadRequest:   http.StatusBadRequest,
	steward.KindNotFound:     http.StatusNotFound,
	steward.KindConflict:     http.StatusConflict,
	steward.KindUnauthorized: http.StatusUnauthorized,
	steward.KindForbidden:    http.StatusForbidden,
	KindTooLarge:             http.StatusRequestEntityTooLarge,
	steward.KindUnavailable:  http.StatusServiceUnavailable,
	steward.KindInternal:     http.StatusInternalServerError,
	KindMethod:               http.StatusMethodNotAllowed,
	KindNotAcceptable:        http.StatusNotAcceptable,
	KindMediaType:            http.StatusUnsupportedMediaType,
	KindTooMany:              http.StatusTooManyRequests,
}

// Status is the HTTP status for err.
func Status(err error) int {
	if s, ok := statusOf[steward.ErrorKind(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// ErrorObjectOf turns err into an error object; internals never leak: a non-domain
// error becomes a generic 500.
func ErrorObjectOf(err error) ErrorObject {
	e := steward.AsError(err).Bounded() // never echo unbounded input
	status := Status(e)
	obj := ErrorObject{
		Status: strconv.Itoa(status),
		Code:   e.Code,
		Title:  http.StatusText(status),
		Detail: e.Detail,
		Meta:   e.Meta,
	}
	if e.Kind == steward.KindInternal {
		obj.Detail = "the server failed to handle the request; it has been logged"
		obj.Meta = nil
	}
	if pointer := pointerOf(e); pointer != "" || e.Parameter != "" {
		obj.Source = &ErrorSource{Pointer: pointer, Parameter: e.Parameter}
	}
	return obj
}

// pointerOf is the source.pointer of e: the wire layer's own Pointer, or
// the attribute the domain named.
func pointerOf(e *steward.Error) string {
	if e.Pointer == "" && e.Field != "" {
		return Pointer(e.Field)
	}
	return e.Pointer
}

// RenderError writes err as a JSON:API error document. Extra errors (several
// invalid attributes at once) can be passed in more.
func RenderError(w http.ResponseWriter, _ *http.Request, err error, more ...error) {
	objs := []ErrorObject{ErrorObjectOf(err)}
	for _, m := range more {
		objs = append(objs, ErrorObjectOf(m))
	}
	if e := steward.AsError(err); e.Kind == steward.KindUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="steward"`)
	}
	w.Header().Set("Content-Type", MediaType)
	w.WriteHeader(Status(err))
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // details quote user input such as <token>; keep it readable
	_ = enc.Encode(map[string]any{"errors": objs})
}
