// Package run holds what runs: changes, their step trees, the step state
// machine, retry and log lines. It builds on the core model (nodes, remotes,
// templates, events) and is shared by every kind of run.
package run
