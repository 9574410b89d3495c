package run_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
)

// Rows InsertRows writes past GORM read back as GORM wrote them would:
// JSON, nil and set pointers (and statements where every row's are nil),
// booleans and times, more rows than one statement takes.
func TestInsertRowsRoundTrips(t *testing.T) {
	t.Parallel()
	s := testutil.NewStore(t)
	ctx := context.Background()
	var want []*model.Event
	for i := 0; i < 205; i++ {
		var src *model.EventSource
		if i%2 == 0 && i < 150 { // past 150 whole statements leave the source columns out
			src = &model.EventSource{Type: "change", ID: model.NewID(), Path: "/changes/x"}
		}
		ev := s.NewEvent(&model.Actor{Username: "alice"}, "api:changes:create", src,
			model.JSONMap{"n": i, "nested": map[string]any{"quote": `it's "x"`, "list": []any{1.5, true, nil}}})
		ev.CreatedAt = time.Date(2025, 6, 2, 10, 0, 0, i*1000, time.UTC)
		want = append(want, ev)
	}
	want[3].System = true
	if err := s.Write(ctx, func(tx *gorm.DB) error { return s.InsertEvents(tx, want) }); err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		var got model.Event
		if err := s.DB.Where("id = ?", w.ID).Take(&got).Error; err != nil {
			t.Fatal(err)
		}
		if got.Type != w.Type || got.Username != w.Username || got.System != w.System || !got.CreatedAt.Equal(w.CreatedAt) ||
			(got.SourceID == nil) != (w.SourceID == nil) || (w.SourceID != nil && *got.SourceID != *w.SourceID) ||
			got.Attributes["n"] != float64(w.Attributes["n"].(int)) ||
			got.Attributes["nested"].(map[string]any)["quote"] != `it's "x"` {
			t.Fatalf("event read back %+v, written %+v", got, w)
		}
	}
}

// NodesClosed names exactly the nodes a change may not be created on, with
// NodeOpen's reason: an archived node, and a node below an archived one.
func TestNodesClosed(t *testing.T) {
	t.Parallel()
	s := testutil.NewStore(t)
	ctx := context.Background()
	p, err := s.CreateNode(ctx, model.SystemActor, nil, model.KindProject, model.NodeInput{Code: "opc", Name: "OpsChain"})
	if err != nil {
		t.Fatal(err)
	}
	envs := map[string]*model.Node{}
	for _, code := range []string{"dev", "prod"} {
		e, err := s.CreateNode(ctx, model.SystemActor, p, model.KindEnvironment, model.NodeInput{Code: code, Name: code})
		if err != nil {
			t.Fatal(err)
		}
		envs[code] = e
	}
	nodes := map[string]*model.Node{p.ID: p, envs["dev"].ID: envs["dev"], envs["prod"].ID: envs["prod"]}
	closed, err := run.NodesClosed(s.DB, nodes)
	if err != nil || len(closed) != 0 {
		t.Fatalf("nothing archived: %v %v", closed, err)
	}
	archive := func(n *model.Node) {
		if err := s.DB.Model(&model.Node{}).Where("id = ?", n.ID).Update("archived", true).Error; err != nil {
			t.Fatal(err)
		}
	}
	archive(envs["dev"])
	closed, err = run.NodesClosed(s.DB, nodes)
	if err != nil || len(closed) != 1 || !strings.Contains(closed[envs["dev"].ID], envs["dev"].Path+" is archived") {
		t.Fatalf("dev archived: %v %v", closed, err)
	}
	archive(p)
	closed, err = run.NodesClosed(s.DB, nodes)
	if err != nil || len(closed) != 3 || !strings.Contains(closed[envs["prod"].ID], p.Path+" is archived, so") {
		t.Fatalf("project archived: %v %v", closed, err)
	}
}
