// Package client is Steward's Go SDK, for CI pipelines and the steward CLI: typed
// calls on the JSON:API read with google/jsonapi, API errors as *Error values, and
// a live log follow (FollowLog) that resumes after a dropped connection.
package client
