package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"
)

// CountStatements counts every statement g sends (queries, creates,
// updates, deletes, raw SQL), by kind: what a change cycle costs the
// database, read from /metrics by bench/blackbox.
func (m *Metrics) CountStatements(g *gorm.DB) error {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "steward_db_statements_total",
		Help: "SQL statements this process sent through its ORM, by kind."}, []string{"kind"})
	if err := m.Registry.Register(c); err != nil {
		return err
	}
	cb := g.Callback()
	for kind, after := range map[string]func(string, func(*gorm.DB)) error{
		"query":  cb.Query().After("gorm:query").Register,
		"create": cb.Create().After("gorm:create").Register,
		"update": cb.Update().After("gorm:update").Register,
		"delete": cb.Delete().After("gorm:delete").Register,
		"row":    cb.Row().After("gorm:row").Register,
		"raw":    cb.Raw().After("gorm:raw").Register,
	} {
		counter := c.WithLabelValues(kind)
		if err := after("steward:count_"+kind, func(*gorm.DB) { counter.Inc() }); err != nil {
			return err
		}
	}
	return nil
}
