// Package model holds Steward's records (GORM models) and the domain operations
// on them: the node tree, versioned properties and settings, identity, events,
// git remotes, templates, changes and the step state machine. It knows nothing
// of HTTP; handlers call its operations and render the results.
package model
