package webhook_test

import (
	"context"
	"testing"

	"gorm.io/gorm"

	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
	whmodel "github.com/stewardhq/steward/model/webhook"
)

func store(t *testing.T) *whmodel.Store {
	t.Helper()
	allow, err := whmodel.ParseAllowList([]string{"127.0.0.0/8", "hooks.internal"})
	if err != nil {
		t.Fatal(err)
	}
	return whmodel.New(testutil.NewStore(t), allow)
}

func subscribe(t *testing.T, s *whmodel.Store, prefix string, patterns ...string) *whmodel.Webhook {
	t.Helper()
	url := "http://127.0.0.1:9/x"
	w, err := s.Create(context.Background(), model.SystemActor, whmodel.Input{URL: &url, EventTypes: patterns, PathPrefix: &prefix})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// The outbox matches each event against every enabled subscription's
// patterns and path prefix, in SQL, in the event's transaction.
func TestOutboxMatching(t *testing.T) {
	ctx := context.Background()
	s := store(t)
	all := subscribe(t, s, "", "*")
	changes := subscribe(t, s, "", "api:changes:*")
	exact := subscribe(t, s, "", "api:steps:approve")
	literal := subscribe(t, s, "", "api:work_steps:x") // _ is no wildcard
	middle := subscribe(t, s, "", "api:*:approve")
	dev := subscribe(t, s, "/projects/opc/environments/dev", "*")
	off := subscribe(t, s, "", "*")
	disabled := false
	if _, err := s.Update(ctx, model.SystemActor, off, whmodel.Input{Enabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	opc, err := s.CreateNode(ctx, model.SystemActor, nil, model.KindProject, model.NodeInput{Code: "opc", Name: "OpsChain"})
	if err != nil {
		t.Fatal(err)
	}
	devNode, err := s.CreateNode(ctx, model.SystemActor, opc, model.KindEnvironment, model.NodeInput{Code: "dev", Name: "Dev"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateNode(ctx, model.SystemActor, opc, model.KindEnvironment, model.NodeInput{Code: "dev2", Name: "Dev 2"})
	if err != nil {
		t.Fatal(err)
	}
	sha := "0123456789abcdef0123456789abcdef01234567"
	now := s.Now()
	change := &run.Change{ID: model.NewID(), NodeID: devNode.ID, Action: "build", Status: run.StatusSuccess, GitRemoteName: "origin",
		GitRev: "main", CommitSHA: &sha, Metadata: model.JSONMap{}, PropertyOverrides: model.JSONMap{}, CreatedBy: "admin", CreatedAt: now, UpdatedAt: now}
	if err := s.DB.Create(change).Error; err != nil {
		t.Fatal(err)
	}
	record := func(typ string, src *model.EventSource, attrs model.JSONMap) string {
		t.Helper()
		var id string
		err := s.Write(ctx, func(tx *gorm.DB) error {
			if err := s.Record(tx, model.SystemActor, typ, src, attrs); err != nil {
				return err
			}
			var ev model.Event
			if err := tx.Order("created_at DESC").Order("id DESC").Take(&ev).Error; err != nil {
				return err
			}
			id = ev.ID
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	cases := []struct {
		name string
		typ  string
		src  *model.EventSource
		want []*whmodel.Webhook
	}{
		{"change event, via its change's node", "api:changes:start", &model.EventSource{Type: "change", ID: change.ID, Path: "/changes/" + change.ID},
			[]*whmodel.Webhook{all, changes, dev}},
		{"approve", "api:steps:approve", nil, []*whmodel.Webhook{all, exact, middle}},
		{"underscore literal", "api:workXsteps:x", nil, []*whmodel.Webhook{all}},
		{"underscore", "api:work_steps:x", nil, []*whmodel.Webhook{all, literal}},
		{"node event under dev", "api:assets:create", &model.EventSource{Type: "asset", ID: model.NewID(), Path: "/projects/opc/environments/dev/assets/db"},
			[]*whmodel.Webhook{all, dev}},
		{"sibling with a longer code", "api:environments:update", &model.EventSource{Type: "environment", ID: model.NewID(), Path: "/projects/opc/environments/dev2"},
			[]*whmodel.Webhook{all}},
		{"case matters", "API:CHANGES:START", nil, []*whmodel.Webhook{all}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := record(tc.typ, tc.src, nil)
			var got []whmodel.Delivery
			s.DB.Where("event_id = ?", id).Find(&got)
			want := map[string]bool{}
			for _, w := range tc.want {
				want[w.ID] = true
			}
			if len(got) != len(want) {
				t.Fatalf("%d deliveries, want %d: %+v", len(got), len(want), got)
			}
			for _, d := range got {
				if !want[d.WebhookID] || d.Status != whmodel.StatusPending || d.NextAttemptAt == nil || d.ID[:24] != id[:24] {
					t.Errorf("delivery %+v", d)
				}
			}
		})
	}
}

// An event no subscription matches writes nothing, and its transaction
// costs the one INSERT ... SELECT.
func TestOutboxNoSubscription(t *testing.T) {
	s := store(t)
	if _, err := s.CreateEvent(context.Background(), model.SystemActor, "custom:x", nil); err != nil {
		t.Fatal(err)
	}
	if n := testutil.Count(t, s.DB, "webhook_deliveries"); n != 0 {
		t.Fatalf("deliveries = %d", n)
	}
}

// A custom event's attributes are free-form: a change_id that is no id
// must not break its transaction (PostgreSQL would refuse the uuid cast).
func TestOutboxCustomAttributes(t *testing.T) {
	s := store(t)
	subscribe(t, s, "/projects/opc", "*")
	for _, attrs := range []model.JSONMap{{"change_id": "not-an-id"}, {"change_id": 7}, {"node": 3}, {"change_id": model.NewID()}} {
		if _, err := s.CreateEvent(context.Background(), model.SystemActor, "custom:x", attrs); err != nil {
			t.Fatalf("%v: %v", attrs, err)
		}
	}
}

func TestAllowList(t *testing.T) {
	s := store(t)
	for _, url := range []string{"http://127.0.0.1:1/a", "http://127.9.9.9/"} {
		u := url
		if _, err := s.Create(context.Background(), model.SystemActor, whmodel.Input{URL: &u, EventTypes: []string{"*"}}); err != nil {
			t.Errorf("%s: %v", url, err)
		}
	}
	for _, url := range []string{"http://10.0.0.1/", "http://[fe80::1]/", "http://[::ffff:10.0.0.1]/", "http://100.64.0.1/", "http://0.0.0.0/"} {
		u := url
		if _, err := s.Create(context.Background(), model.SystemActor, whmodel.Input{URL: &u, EventTypes: []string{"*"}}); err == nil {
			t.Errorf("%s was allowed", url)
		}
	}
	if _, err := whmodel.ParseAllowList([]string{"10.0.0.0/33"}); err == nil {
		t.Error("a bad CIDR parsed")
	}
}

// Each process caches the enabled subscriptions' patterns; a subscription
// written by another replica (here a second store on the same database)
// changes the generation row, so the next event sees it.
func TestOutboxCacheFollowsOtherReplicas(t *testing.T) {
	ctx := context.Background()
	url := testutil.DatabaseURL(t)
	allow, err := whmodel.ParseAllowList([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	a, b := whmodel.New(testutil.StoreWithSecrets(t, url), allow), whmodel.New(testutil.StoreWithSecrets(t, url), allow)
	count := func() int64 { return testutil.Count(t, a.DB, "webhook_deliveries") }
	event := func(typ string) {
		t.Helper()
		if _, err := a.CreateEvent(ctx, model.SystemActor, typ, nil); err != nil {
			t.Fatal(err)
		}
	}
	event("custom:x") // a caches: no subscription
	w := subscribe(t, b, "", "custom:*")
	event("custom:x")
	if n := count(); n != 1 {
		t.Fatalf("after another replica subscribed: %d deliveries, want 1", n)
	}
	off := false
	if _, err := b.Update(ctx, model.SystemActor, w, whmodel.Input{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	event("custom:x")
	on := true
	if _, err := b.Update(ctx, model.SystemActor, w, whmodel.Input{Enabled: &on, EventTypes: []string{"other:*"}}); err != nil {
		t.Fatal(err)
	}
	event("custom:x")
	if n := count(); n != 1 {
		t.Fatalf("disabled or unmatched: %d deliveries, want still 1", n)
	}
	event("other:y")
	if n := count(); n != 2 {
		t.Fatalf("after the patterns changed: %d deliveries, want 2", n)
	}
	if err := b.Delete(ctx, model.SystemActor, w); err != nil {
		t.Fatal(err)
	}
	event("other:y")
	if n := testutil.Count(t, a.DB, "events WHERE type = 'other:y'"); n != 2 || count() != 0 {
		t.Fatalf("after delete: %d other:y events, %d deliveries", n, count())
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true}, {"*", "api:x", true}, {"api:changes:*", "api:changes:start", true},
		{"api:changes:*", "api:changes", false}, {"api:*:approve", "api:steps:approve", true},
		{"api:*:approve", "api:steps:approved", false}, {"a*b*c", "abc", true}, {"a*b*c", "acb", false},
		{"a*a", "a", false}, {"x", "x", true}, {"x", "X", false}, {"*:x", "y:x", true}, {"a**", "a", true},
	} {
		if got := model.GlobMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("GlobMatch(%q, %q) = %v", tc.pattern, tc.s, got)
		}
	}
}
