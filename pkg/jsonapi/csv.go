package jsonapi

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
)

// CSVWriter streams resources as CSV rows: id, then the named attributes.
// Non-string values are written as JSON so nothing is lost.
type CSVWriter struct {
	w       *csv.Writer
	flusher http.Flusher
	columns []string
}

// NewCSV starts a CSV download named filename with the given attribute columns.
func NewCSV(w http.ResponseWriter, filename string, columns []string) (*CSVWriter, error) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", filename))
	w.WriteHeader(http.StatusOK)
	cw := &CSVWriter{w: csv.NewWriter(w), columns: columns}
	cw.flusher, _ = w.(http.Flusher)
	return cw, cw.w.Write(append([]string{"id"}, columns...))
}

// Write adds one resource as a row.
func (c *CSVWriter) Write(r *Resource) error {
	raw, err := json.Marshal(r.Attributes)
	if err != nil {
		return err
	}
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal(raw, &attrs); err != nil {
		return err
	}
	row := make([]string, 0, len(c.columns)+1)
	row = append(row, r.ID)
	for _, col := range c.columns {
		v := attrs[col]
		var s string
		if err := json.Unmarshal(v, &s); err == nil {
			row = append(row, s)
		} else if string(v) == "null" || v == nil {
			row = append(row, "")
		} else {
			row = append(row, string(v))
		}
	}
	return c.w.Write(row)
}

// Flush pushes buffered rows to the client (call after each batch).
func (c *CSVWriter) Flush() error {
	c.w.Flush()
	if c.flusher != nil {
		c.flusher.Flush()
	}
	return c.w.Error()
}
