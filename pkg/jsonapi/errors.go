package jsonapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/stewardhq/steward/model"
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

// statusOf is the one table from error kind to HTTP status.
var statusOf = map[model.Kind]int{
	model.KindInvalid:       http.StatusUnprocessableEntity,
	model.KindBadRequest:    http.StatusBadRequest,
	model.KindNotFound:      http.StatusNotFound,
	model.KindConflict:      http.StatusConflict,
	model.KindUnauthorized:  http.StatusUnauthorized,
	model.KindForbidden:     http.StatusForbidden,
	model.KindTooLarge:      http.StatusRequestEntityTooLarge,
	model.KindUnavailable:   http.StatusServiceUnavailable,
	model.KindInternal:      http.StatusInternalServerError,
	model.KindMethod:        http.StatusMethodNotAllowed,
	model.KindNotAcceptable: http.StatusNotAcceptable,
	model.KindMediaType:     http.StatusUnsupportedMediaType,
}

// Status is the HTTP status for err.
func Status(err error) int {
	if s, ok := statusOf[model.ErrorKind(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// ErrorObjectOf turns err into an error object; internals never leak: a non-domain
// error becomes a generic 500.
func ErrorObjectOf(err error) ErrorObject {
	e := model.AsError(err).Bounded() // never echo unbounded input
	status := Status(e)
	obj := ErrorObject{
		Status: strconv.Itoa(status),
		Code:   e.Code,
		Title:  http.StatusText(status),
		Detail: e.Detail,
		Meta:   e.Meta,
	}
	if e.Kind == model.KindInternal {
		obj.Detail = "the server failed to handle the request; it has been logged"
		obj.Meta = nil
	}
	if e.Pointer != "" || e.Parameter != "" {
		obj.Source = &ErrorSource{Pointer: e.Pointer, Parameter: e.Parameter}
	}
	return obj
}

// RenderError writes err as a JSON:API error document. Extra errors (several
// invalid attributes at once) can be passed in more.
func RenderError(w http.ResponseWriter, _ *http.Request, err error, more ...error) {
	objs := []ErrorObject{ErrorObjectOf(err)}
	for _, m := range more {
		objs = append(objs, ErrorObjectOf(m))
	}
	if e := model.AsError(err); e.Kind == model.KindUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="steward"`)
	}
	w.Header().Set("Content-Type", MediaType)
	w.WriteHeader(Status(err))
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // details quote user input such as <token>; keep it readable
	_ = enc.Encode(map[string]any{"errors": objs})
}
