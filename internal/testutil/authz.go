package testutil

import (
	"context"
	"testing"

	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/authz"
)

// Everywhere is a rule set that allows everything, for the actors of tests
// that are not about authorisation.
var Everywhere = []authz.Rule{{ID: "test-everywhere", Name: "everything", Path: "/",
	Readable: true, Updatable: true, Executable: true, Deletable: true}}

// Grant creates a policy named after username holding rules and assigns it
// to username: how a test gives a user what it may do.
func Grant(t testing.TB, store *model.Store, username string, rules ...model.RuleAttributes) {
	t.Helper()
	ctx := context.Background()
	p, err := store.CreatePolicy(ctx, model.SystemActor, model.PolicyAttributes{Name: "for " + username + " " + model.NewID(), Rules: rules})
	if err != nil {
		t.Fatalf("grant %s: %v", username, err)
	}
	if _, err := store.ReplaceAssignments(ctx, model.SystemActor, p.ID, []model.Assignee{{Username: &username}}); err != nil {
		t.Fatalf("grant %s: %v", username, err)
	}
}

// GrantAll gives username every right everywhere (not /authorisation_policies).
func GrantAll(t testing.TB, store *model.Store, username string) {
	t.Helper()
	Grant(t, store, username, model.RuleAttributes{Path: "/", Readable: true, Updatable: true, Executable: true})
}
