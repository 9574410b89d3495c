// Package bench holds Steward's measured targets as Go benchmarks that print
// figures: list rendering against encoding/json and google/jsonapi (one
// document on all three sides, TestRenderSameDocument checks; run
// TestRenderRatio with -v for the ratios), deep keyset pages, Git reads
// and checkouts against the git CLI, log storage, and the scheduler (10,000
// activities due at once: lateness and CPU per activity). Dispatch and throughput
// live beside the engine (engine/dispatch_bench_test.go).
// Run: go test -run '^$' -bench . -benchmem ./bench/ ./engine/
package bench
