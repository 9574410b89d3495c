package model_test

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"testing"

	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/authz"
)

// The SQL filter every list uses agrees with the decision itself: for random
// rule sets, the nodes a query returns are exactly those Decide lets the
// actor read, and the same for their log lines.
func TestReadableNodesMatchDecide(t *testing.T) {
	t.Parallel()
	store := testutil.NewStore(t).Store
	ctx := context.Background()
	var paths []string
	now := store.Now()
	var nodes []model.Node
	for p := 0; p < 3; p++ {
		proj := fmt.Sprintf("/projects/p_%d", p)
		paths = append(paths, proj, proj+"x") // p_0 and p_0x: a prefix that is no parent
		for e := 0; e < 3; e++ {
			env := fmt.Sprintf("%s/environments/e%d", proj, e)
			paths = append(paths, env, env+"/assets/a", proj+fmt.Sprintf("/assets/a%d", e))
		}
	}
	for _, p := range paths {
		nodes = append(nodes, model.Node{ID: model.NewID(), Kind: model.KindProject, Code: "c", Name: "n", Path: p,
			PropertiesID: model.NewID(), SettingsID: model.NewID(), CreatedAt: now, UpdatedAt: now})
	}
	if err := store.DB.Create(&nodes).Error; err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(7))
	for round := 0; round < 200; round++ {
		var rules []authz.Rule
		for i := rng.Intn(6); i >= 0; i-- {
			p := paths[rng.Intn(len(paths))]
			switch rng.Intn(8) {
			case 0:
				p = "/"
			case 1, 2:
				p += "/log_lines"
			}
			rules = append(rules, authz.Rule{Path: p, Readable: rng.Intn(2) == 0})
		}
		actor := &model.Actor{Username: "u", Rules: rules}
		var want []string
		for _, p := range paths {
			if authz.Decide(rules, authz.Read, p).Allowed {
				want = append(want, p)
			}
		}
		var got []string
		q := store.Readable(model.WithActor(ctx, actor), store.DB.Model(&model.Node{}), "id")
		if err := q.Order("path").Pluck("path", &got).Error; err != nil {
			t.Fatal(err)
		}
		sort.Strings(want)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("rules %+v:\n SQL reads %v\n Decide   %v", rules, got, want)
		}
		// A node's log lines: its /log_lines rule, else the node.
		want, got = nil, nil
		for _, p := range paths {
			if authz.Decide(rules, authz.Read, p+"/log_lines").Allowed {
				want = append(want, p)
			}
		}
		logs, all := store.ReadableLogNodes(model.WithActor(ctx, actor))
		if all {
			logs = store.DB.Model(&model.Node{}).Select("id")
		}
		if err := store.DB.Model(&model.Node{}).Where("id IN (?)", logs).Order("path").Pluck("path", &got).Error; err != nil {
			t.Fatal(err)
		}
		sort.Strings(want)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("rules %+v:\n SQL reads the logs of %v\n Decide             %v", rules, got, want)
		}
	}
}
