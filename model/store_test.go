package model_test

import (
	"context"
	"testing"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/listquery"
)

// TestSnapshotReadsOneMoment: every read through a snapshot sees the
// database as it was at the first one, whatever commits meanwhile, and a
// write through it is refused.
func TestSnapshotReadsOneMoment(t *testing.T) {
	store := testutil.NewStore(t).Store
	ctx := context.Background()
	create := func(code string) {
		t.Helper()
		if _, err := store.CreateNode(ctx, model.SystemActor, nil, model.KindProject, model.NodeInput{Code: code, Name: code}); err != nil {
			t.Fatalf("create %s: %v", code, err)
		}
	}
	count := func(s *model.Store) int {
		t.Helper()
		page, err := s.ChildList(nil, model.KindProject).Fetch(ctx, listquery.List{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Rows)
	}
	create("before")
	err := store.Snapshot(ctx, func(view *model.Store) error {
		if n := count(view); n != 1 {
			t.Fatalf("snapshot sees %d projects, want 1", n)
		}
		create("during") // committed by another connection
		if n := count(store); n != 2 {
			t.Fatalf("the store sees %d projects, want 2", n)
		}
		if n := count(view); n != 1 {
			t.Errorf("the snapshot sees %d projects after a commit elsewhere, want still 1", n)
		}
		if _, err := view.NodeByPath(ctx, "/projects/during"); steward.ErrorKind(err) != steward.KindNotFound {
			t.Errorf("the snapshot found a project created after it began: %v", err)
		}
		err := view.Snapshot(ctx, func(inner *model.Store) error {
			if n := count(inner); n != 1 {
				t.Errorf("a nested snapshot sees %d projects, want its parent's 1", n)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := view.CreateNode(ctx, model.SystemActor, nil, model.KindProject, model.NodeInput{Code: "w", Name: "w"}); err == nil {
			t.Error("a write through a snapshot succeeded")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(store); n != 2 {
		t.Fatalf("after the snapshot the store sees %d projects, want 2", n)
	}
}
