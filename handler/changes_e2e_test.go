package handler_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stewardhq/steward/model/run"

	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/internal/testutil/enginetest"
	"github.com/stewardhq/steward/model"
)

// TestChangeRunsOverHTTP drives a change through the API only: created,
// approved by a member of ops, continued, and seen to succeed.
func TestChangeRunsOverHTTP(t *testing.T) {
	t.Parallel()
	s := enginetest.NewServer(t)
	chgServer(t, s)
	ctx := context.Background()
	if _, err := s.Store.CreateUser(ctx, model.SystemActor, "olivia", []string{"ops"}); err != nil {
		t.Fatal(err)
	}
	testutil.Grant(t, s.Store.Store, "olivia", model.RuleAttributes{Path: "/", Readable: true, Executable: true})
	const opsToken = "stw_chg-olivia-token-0123456789"
	if _, _, err := s.Store.CreateToken(ctx, model.SystemActor, "olivia", "test", 0, opsToken); err != nil {
		t.Fatal(err)
	}

	id := chgCreate(t, s, chgEnv+"/changes", chgBody("deploy", nil))
	isNamed := func(name string) func(*run.Step) bool {
		return func(st *run.Step) bool { return st.Name != nil && *st.Name == name }
	}
	approval := testutil.WaitStep(t, s.Store, id, isNamed("Approval"), run.StatusWaiting)
	links := s.Get(t, "/api/steps/"+approval.ID).Expect(t, http.StatusOK).Data(t)["links"].(map[string]any)
	if links["approve"] == nil || links["reject"] == nil || links["continue"] != nil {
		t.Fatalf("waiting approval step links = %v", links)
	}
	approved := testutil.One[testutil.Step](t, s.Do(t, testutil.Request{Method: http.MethodPost, Path: links["approve"].(string), Token: opsToken,
		Body: testutil.Attrs("", map[string]any{"message": "looks good"})}).Expect(t, http.StatusOK))
	by := approved.ApprovedBy
	if len(by) != 1 || by[0].Username != "olivia" || testutil.Str(by[0].Message) != "looks good" {
		t.Fatalf("approved_by = %+v", by)
	}

	smoke := testutil.WaitStep(t, s.Store, id, isNamed("Smoke check"), run.StatusWaiting)
	s.Post(t, "/api/steps/"+smoke.ID+"/continue", nil).Expect(t, http.StatusOK)
	testutil.WaitChange(t, s.Store, id, run.StatusSuccess, run.StatusError)

	// The steps are read through the change's steps relationship, resolved
	// from included.
	c := testutil.One[testutil.Change](t, s.Get(t, "/api/changes/"+id+"?include=steps").Expect(t, http.StatusOK))
	if c.StatusCode != run.StatusSuccess || c.StartedAt == nil || c.FinishedAt == nil {
		t.Fatalf("change = %+v", c)
	}
	if len(c.Steps) == 0 {
		t.Fatal("the change has no steps")
	}
	for _, st := range c.Steps {
		if st.StatusCode != run.StatusSuccess {
			t.Fatalf("step %v is %v", testutil.Str(st.Name), st.StatusCode)
		}
	}
	if n := len(testutil.Many[testutil.Change](t, s.Get(t, "/api/changes?filter[status_code_eq]=success").Expect(t, http.StatusOK))); n != 1 {
		t.Fatalf("%d successful changes listed", n)
	}
}
