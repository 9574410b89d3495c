package converge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	steward "github.com/stewardhq/steward"
)

// Numbers in free-form documents (properties, settings, metadata, overrides,
// repository files, MintModels) are kept exactly. Each is brought to its
// canonical text, the one PostgreSQL's jsonb writes: plain decimal notation
// (1e3 is 1000, 1e400 is 1 and 400 zeros), no leading zeros, the fraction
// digits as written less those an exponent moves (1.50 stays 1.50, 1.55e1 is
// 15.5), and no sign on zero. A number whose canonical text float64 writes
// back unchanged (8080, 0.1) is held as that float64, the value encoding/json
// has always given code and templates; any other (123456789012345678901234567890,
// 1.50, 1e400) is a json.Number holding the text. Both databases therefore
// store and return the same text, and nothing is rounded.

// PostgreSQL's numeric bounds: digits before the decimal point, digits after
// it, and the exponent it accepts at all (even on zero).
const (
	maxIntegerDigits  = 131072
	maxFractionDigits = 16383
	maxExponent       = 1<<30 - 1
)

// MaxNumberGrowth bounds how many bytes the canonical texts of one document's
// numbers may add to the numbers as written (1e400 adds 398), so that a
// small document of exponents cannot expand into a huge one.
const MaxNumberGrowth = 1 << 20

// NumberError is a number that cannot be kept exactly. Pointer is the JSON
// pointer (RFC 6901) of the number within the decoded value.
type NumberError struct {
	Pointer string
	Msg     string
}

func (e *NumberError) Error() string {
	if e.Pointer == "" {
		return e.Msg
	}
	return e.Pointer + ": " + e.Msg
}

var errNotNumber = errors.New("not a JSON number")

// CanonicalNumber returns the canonical text of the JSON number s, or an
// error when s is not a JSON number or lies outside what PostgreSQL stores
// (more than 131072 digits before the point or 16383 after it).
func CanonicalNumber(s string) (string, error) {
	neg, intPart, frac, exp, err := splitNumber(s)
	if err != nil {
		return "", err
	}
	digits := intPart + frac
	lead := len(digits) - len(strings.TrimLeft(digits, "0"))
	point := int64(len(intPart)) + exp // where the decimal point falls in digits
	scale := int64(len(frac)) - exp
	if scale < 0 {
		scale = 0
	}
	if scale > maxFractionDigits {
		return "", &NumberError{Msg: fmt.Sprintf("has more than %d digits after the decimal point", maxFractionDigits)}
	}
	if lead == len(digits) { // zero: no sign, only the scale survives
		if scale == 0 {
			return "0", nil
		}
		return "0." + strings.Repeat("0", int(scale)), nil
	}
	if point-int64(lead) > maxIntegerDigits {
		return "", &NumberError{Msg: fmt.Sprintf("has more than %d digits before the decimal point", maxIntegerDigits)}
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	switch {
	case point <= int64(lead):
		b.WriteByte('0')
	case point >= int64(len(digits)):
		b.WriteString(digits[lead:])
		b.WriteString(strings.Repeat("0", int(point)-len(digits)))
	default:
		b.WriteString(digits[lead:point])
	}
	if scale > 0 {
		// scale == len(digits) - point here: every digit after the point.
		b.WriteByte('.')
		if point < 0 {
			b.WriteString(strings.Repeat("0", int(-point)))
			b.WriteString(digits)
		} else {
			b.WriteString(digits[point:])
		}
	}
	return b.String(), nil
}

// splitNumber checks the JSON number grammar and returns its parts.
func splitNumber(s string) (neg bool, intPart, frac string, exp int64, err error) {
	i := 0
	if i < len(s) && s[i] == '-' {
		neg = true
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intPart = s[start:i]
	if intPart == "" || (len(intPart) > 1 && intPart[0] == '0') {
		return false, "", "", 0, errNotNumber
	}
	if i < len(s) && s[i] == '.' {
		i++
		start = i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if frac = s[start:i]; frac == "" {
			return false, "", "", 0, errNotNumber
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		start = i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if start == i {
			return false, "", "", 0, errNotNumber
		}
		e := strings.TrimLeft(s[start:i], "0")
		if len(e) > 10 {
			e = "99999999999" // out of range, once s is known to be a number
		}
		exp, _ = strconv.ParseInt("0"+e, 10, 64)
		if eneg {
			exp = -exp
		}
	}
	if i != len(s) {
		return false, "", "", 0, errNotNumber
	}
	if exp >= maxExponent || exp <= -maxExponent {
		return false, "", "", 0, &NumberError{Msg: "has an exponent too large to store"}
	}
	return neg, intPart, frac, exp, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// numberValue is the value Steward holds for a canonical number text.
func numberValue(canon string) any {
	if len(canon) <= 32 {
		if f, err := strconv.ParseFloat(canon, 64); err == nil {
			if b, err := json.Marshal(f); err == nil && string(b) == canon {
				return f
			}
		}
	}
	return json.Number(canon)
}

// DecodeJSON decodes one JSON value (nothing may follow it) with every number
// exact, as Exact makes it.
func DecodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return Exact(v)
}

// Exact returns v with every number in canonical form: json.Number and
// float64 become what DecodeJSON gives, other Go numbers (from YAML or TOML)
// too. Maps and slices are rewritten in place; a number that cannot be kept
// is a *NumberError naming where it is.
func Exact(v any) (any, error) {
	budget := MaxNumberGrowth
	return exact(v, "", &budget)
}

func exact(v any, pointer string, budget *int) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			nv, err := exact(e, pointer+"/"+PointerToken(k), budget)
			if err != nil {
				return nil, err
			}
			t[k] = nv
		}
		return t, nil
	case []any:
		for i, e := range t {
			nv, err := exact(e, pointer+"/"+strconv.Itoa(i), budget)
			if err != nil {
				return nil, err
			}
			t[i] = nv
		}
		return t, nil
	case json.Number:
		return exactNumber(string(t), pointer, budget)
	case float64, float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		b, err := json.Marshal(t)
		if err != nil {
			return nil, &NumberError{Pointer: pointer, Msg: "is not a finite number"}
		}
		return exactNumber(string(b), pointer, budget)
	}
	return v, nil
}

func exactNumber(lit, pointer string, budget *int) (any, error) {
	canon, err := CanonicalNumber(lit)
	if err != nil {
		var ne *NumberError
		if errors.As(err, &ne) {
			return nil, &NumberError{Pointer: pointer, Msg: ne.Msg}
		}
		return nil, &NumberError{Pointer: pointer, Msg: "is not a JSON number"}
	}
	if grow := len(canon) - len(lit); grow > 0 {
		if *budget -= grow; *budget < 0 {
			return nil, &NumberError{Pointer: pointer,
				Msg: fmt.Sprintf("would make this document's numbers, written out, more than %d bytes longer than sent", MaxNumberGrowth)}
		}
	}
	return numberValue(canon), nil
}

// PointerToken escapes a key as a JSON pointer token (RFC 6901).
func PointerToken(k string) string {
	if !strings.ContainsAny(k, "~/") {
		return k
	}
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(k)
}

// Decode is DecodeJSON for client input: a number that cannot be stored is
// a 422 (invalid_number) whose Field is the number's JSON pointer within the
// value (callers put the attribute in front).
func Decode(raw []byte) (any, error) {
	v, err := DecodeJSON(raw)
	var ne *NumberError
	if errors.As(err, &ne) {
		where := ""
		if ne.Pointer != "" {
			where = " at " + steward.Truncate(ne.Pointer, steward.MaxEcho)
		}
		return nil, &steward.Error{Kind: steward.KindInvalid, Code: "invalid_number", Field: ne.Pointer,
			Detail: "the number" + where + " cannot be stored: it " + ne.Msg}
	}
	return v, err
}
