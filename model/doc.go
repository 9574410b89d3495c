// Package model holds Steward's records (GORM models) and the domain operations on
// them: node tree rules, versioned properties and settings, identity, events.
// It knows nothing of HTTP; handlers call its operations and render the results.
package model
