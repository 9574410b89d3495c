package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Error is a response the API refused: its HTTP status and the JSON:API error
// objects it sent. Callers reach it with errors.As.
type Error struct {
	StatusCode int           // the HTTP status
	Errors     []ErrorObject // empty when the body was not a JSON:API error document
	Body       string        // the start of a body that was not one (a proxy's page, say)
}

// ErrorObject is one JSON:API error object.
type ErrorObject struct {
	ID     string         `json:"id,omitempty"`
	Status string         `json:"status"`
	Code   string         `json:"code,omitempty"`
	Title  string         `json:"title,omitempty"`
	Detail string         `json:"detail,omitempty"`
	Source *ErrorSource   `json:"source,omitempty"`
	Meta   map[string]any `json:"meta,omitempty"`
}

// ErrorSource names what in the request was at fault.
type ErrorSource struct {
	Pointer   string `json:"pointer,omitempty"`   // a JSON Pointer into the request document
	Parameter string `json:"parameter,omitempty"` // a query parameter or header
}

// Code is the first error object's code ("" when there is none).
func (e *Error) Code() string {
	if len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

// Detail is the first error object's detail, or its title, or the status text.
func (e *Error) Detail() string {
	if len(e.Errors) > 0 {
		if d := e.Errors[0].Detail; d != "" {
			return d
		}
		if t := e.Errors[0].Title; t != "" {
			return t
		}
	}
	if e.Body != "" {
		return e.Body
	}
	return http.StatusText(e.StatusCode)
}

// Error reads "422 unknown_action: <detail>"; further error objects follow
// after "; ".
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d", e.StatusCode)
	if c := e.Code(); c != "" {
		b.WriteString(" " + c)
	}
	b.WriteString(": " + e.Detail())
	for _, o := range e.Errors[min(1, len(e.Errors)):] {
		b.WriteString("; " + o.Detail)
	}
	return b.String()
}

// maxErrorBody bounds how much of a body that is not an error document an
// Error quotes.
const maxErrorBody = 300

// decodeError builds the Error for a refused response. It reads the document
// with encoding/json, not google/jsonapi: that library's ErrorObject has no
// source, and source is what tells a caller which attribute was wrong.
func decodeError(status int, body []byte) *Error {
	e := &Error{StatusCode: status}
	var doc struct {
		Errors []ErrorObject `json:"errors"`
	}
	if json.Unmarshal(body, &doc) == nil && len(doc.Errors) > 0 {
		e.Errors = doc.Errors
		return e
	}
	text := strings.TrimSpace(string(body))
	if len(text) > maxErrorBody {
		text = text[:maxErrorBody] + "..."
	}
	e.Body = text
	return e
}
