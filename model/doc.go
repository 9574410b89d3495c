// Package model holds Steward's core records (GORM models) and the domain
// operations on them: the node tree, versioned properties and settings,
// identity, events, git remotes and templates. What runs (changes, steps,
// log lines) is in model/run, built on this. It knows nothing of HTTP.
package model
