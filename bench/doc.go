// Package bench holds Steward's measured targets as Go benchmarks that print
// figures: rendering cost against encoding/json, and deep keyset pages against
// the first page. Run: go test -run '^$' -bench . -benchmem ./bench/
package bench
