package steward

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Kind classifies an error; the JSON:API layer (pkg/jsonapi) maps each kind
// to one status, and adds the kinds only HTTP has (405, 406, 413, 415).
type Kind string

const (
	KindInvalid      Kind = "invalid"      // 422: the request is well-formed but a value is wrong
	KindBadRequest   Kind = "bad_request"  // 400: the request itself is malformed
	KindNotFound     Kind = "not_found"    // 404
	KindConflict     Kind = "conflict"     // 409
	KindUnauthorized Kind = "unauthorized" // 401
	KindForbidden    Kind = "forbidden"    // 403
	KindInternal     Kind = "internal"     // 500
	KindUnavailable  Kind = "unavailable"  // 503
)

// Error is the one error type Steward's operations return. Detail is safe to
// show to clients for every kind but KindInternal. A domain operation names
// the attribute at fault (Field); the JSON:API layer turns that into
// source.pointer, and sets Pointer itself for what is not an attribute.
type Error struct {
	Kind      Kind
	Code      string         // machine-readable, e.g. "taken", "stale_version"
	Detail    string         // human-readable sentence
	Field     string         // the attribute at fault, e.g. code, or data/requires_approval_from inside one
	Pointer   string         // a JSON pointer into the request body, set by the wire layer, e.g. /data/type
	Parameter string         // query parameter at fault, e.g. filter[foo_eq]
	Meta      map[string]any // extra facts, e.g. the current version on a stale write
	Err       error          // cause, never shown to clients
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Kind, e.Detail, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Kind, e.Detail)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an Error of kind k with a formatted detail.
func Errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Code: string(k), Detail: fmt.Sprintf(format, args...)}
}

// Invalid reports a bad value of the attribute field.
func Invalid(field, code, format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Code: code, Field: field, Detail: fmt.Sprintf(format, args...)}
}

// BadParameter reports a bad query parameter.
func BadParameter(param, format string, args ...any) *Error {
	return &Error{Kind: KindBadRequest, Code: "invalid_parameter", Parameter: param, Detail: fmt.Sprintf(format, args...)}
}

// NotFound reports a missing record of the named kind.
func NotFound(what, key string) *Error {
	return &Error{Kind: KindNotFound, Code: "not_found", Detail: what + " " + Echo(key) + " was not found"}
}

// MaxEcho bounds how many characters of client input an error detail quotes.
const MaxEcho = 100

// Echo quotes client input for an error detail (as %q does), cut to MaxEcho
// characters and marked with "…" when longer: a 64 KB code is not sent back whole.
func Echo(s string) string { return strconv.Quote(Truncate(s, MaxEcho)) }

// Truncate cuts s to its first n characters followed by "…" when it is longer.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	count := 0
	for i := range s {
		if count == n {
			return s[:i] + "…"
		}
		count++
	}
	return s
}

// cutBytes cuts s to at most n bytes (on a character boundary) followed by
// "…" when it is longer: the caps are on bytes, what a response carries.
func cutBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Caps, in bytes, on what one rendered error may carry; Echo keeps details well under
// them, and Bounded enforces them for every error, whoever built it.
const (
	maxDetail = 1000
	maxSource = 200
)

// Bounded returns e with Detail, Pointer and Parameter cut to the caps
// (itself when they are within them): the error renderer's guarantee that no
// error echoes unbounded input.
func (e *Error) Bounded() *Error {
	if len(e.Detail) <= maxDetail && len(e.Pointer) <= maxSource && len(e.Field) <= maxSource && len(e.Parameter) <= maxSource {
		return e
	}
	c := *e
	c.Detail = cutBytes(c.Detail, maxDetail)
	c.Pointer = cutBytes(c.Pointer, maxSource)
	c.Field = cutBytes(c.Field, maxSource)
	c.Parameter = cutBytes(c.Parameter, maxSource)
	return &c
}

// ErrorKind returns the kind of err, KindInternal when it is not an *Error.
func ErrorKind(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// AsError returns err as *Error, wrapping unknown errors as internal ones.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: KindInternal, Code: "internal", Detail: "internal server error", Err: err}
}

// First returns the first non-nil error.
func First(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
