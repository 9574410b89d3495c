package model_test

import (
	"context"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
)

// TestAuthenticationIsRememberedBriefly: a token is looked up once a
// second at most; a revocation here still takes effect at once, a token's
// expiry at its time, and a change made behind the cache's back (another
// replica's) within TokenCacheTTL.
func TestAuthenticationIsRememberedBriefly(t *testing.T) {
	store := testutil.NewStore(t).Store
	clock := testutil.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	store.Now = clock.Now
	ctx := context.Background()
	if _, err := store.CreateUser(ctx, model.SystemActor, "ann", []string{"dev"}); err != nil {
		t.Fatal(err)
	}
	const secret = "stw_cache-test-token-0123456789"
	_, _, err := store.CreateToken(ctx, model.SystemActor, "ann", "t", 90*time.Second, secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Authenticate(ctx, secret); err != nil {
		t.Fatal(err)
	}
	// Behind the cache's back, as another replica would.
	if err := store.DB.Exec("DELETE FROM group_members").Error; err != nil {
		t.Fatal(err)
	}
	if a, err := store.Authenticate(ctx, secret); err != nil || len(a.Groups) != 1 {
		t.Fatalf("within the TTL: %+v %v, want the remembered groups", a, err)
	}
	clock.Advance(model.TokenCacheTTL)
	if a, err := store.Authenticate(ctx, secret); err != nil || len(a.Groups) != 0 {
		t.Fatalf("after the TTL: %+v %v, want the groups read again", a, err)
	}
	clock.Advance(89 * time.Second)
	if _, err := store.Authenticate(ctx, secret); err == nil {
		t.Fatal("an expired token was accepted from the cache")
	}
	const other = "stw_cache-test-token-revoked-000"
	tok2, _, err := store.CreateToken(ctx, model.SystemActor, "ann", "t2", 0, other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Authenticate(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := store.RevokeToken(ctx, model.SystemActor, tok2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Authenticate(ctx, other); err == nil {
		t.Fatal("a revoked token was accepted from the cache")
	}
}
