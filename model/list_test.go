package model_test

import (
	"context"
	"testing"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/listquery"
)

// TestListOfAGoneClient: a list whose client went away (its context is
// cancelled) fails as unavailable, not as an internal error that would be
// logged as the server's fault.
func TestListOfAGoneClient(t *testing.T) {
	store := model.NewStore(testutil.DB(t), testutil.Logger(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	src := store.ChildList(nil, model.KindProject)
	if _, err := src.Fetch(ctx, listquery.List{Limit: 10}); steward.ErrorKind(err) != steward.KindUnavailable {
		t.Errorf("Fetch with a cancelled context = %v, want unavailable", err)
	}
	err := src.Each(ctx, listquery.List{}, 10, func(*model.Node) error { return nil })
	if steward.ErrorKind(err) != steward.KindUnavailable {
		t.Errorf("Each with a cancelled context = %v, want unavailable", err)
	}
	if _, err := src.Any(ctx); steward.ErrorKind(err) != steward.KindUnavailable {
		t.Errorf("Any with a cancelled context = %v, want unavailable", err)
	}
}
