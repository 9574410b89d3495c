package model_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
)

var (
	idemAlice = &model.Actor{UserID: model.NewID(), Username: "alice", Rules: testutil.Everywhere}
	idemBob   = &model.Actor{UserID: model.NewID(), Username: "bob", Rules: testutil.Everywhere}
)

func idemSetup(t *testing.T) (*model.Store, *testutil.Clock) {
	t.Helper()
	t.Parallel()
	store := model.NewStore(testutil.DB(t), testutil.Logger(t))
	clock := testutil.NewClock(time.Date(2025, 4, 25, 6, 0, 0, 0, time.UTC))
	store.Now = clock.Now
	return store, clock
}

// idemCode is the error code of err, failing unless err is a domain error of kind.
func idemCode(t *testing.T, err error, kind steward.Kind) string {
	t.Helper()
	if err == nil || steward.ErrorKind(err) != kind {
		t.Fatalf("error %v, want kind %s", err, kind)
	}
	e := steward.AsError(err)
	if e.Meta["header"] != "Idempotency-Key" {
		t.Fatalf("error %v does not name the header in meta: %v", err, e.Meta)
	}
	return e.Code
}

func idemReserve(t *testing.T, s *model.Store, actor *model.Actor, key, hash string) *model.IdempotencyKey {
	t.Helper()
	rec, replay, err := s.ReserveIdempotencyKey(context.Background(), actor, key, hash)
	if err != nil || replay || rec == nil {
		t.Fatalf("reserve %q: %v (replay %v), want a fresh reservation", key, err, replay)
	}
	return rec
}

func TestIdempotencyReserveCompleteReplay(t *testing.T) {
	s, _ := idemSetup(t)
	ctx := context.Background()
	hash := model.IdempotencyRequestHash("POST", "/api/projects", "", []byte(`{"data":{}}`))
	other := model.IdempotencyRequestHash("POST", "/api/projects", "", []byte(`{"data":{"x":1}}`))
	if hash == other || hash != model.IdempotencyRequestHash("POST", "/api/projects", "", []byte(`{"data":{}}`)) {
		t.Fatalf("request hashes must tell bodies apart and be stable")
	}
	if model.IdempotencyRequestHash("POST", "/api/a", "b", nil) == model.IdempotencyRequestHash("POST", "/api/ab", "", nil) {
		t.Fatalf("path and query must not run together in the hash")
	}

	rec := idemReserve(t, s, idemAlice, "ci-42", hash)
	// The first request is still running: a duplicate is a 409, never a second run.
	_, _, err := s.ReserveIdempotencyKey(ctx, idemAlice, "ci-42", hash)
	if code := idemCode(t, err, steward.KindConflict); code != "idempotency_key_in_use" {
		t.Fatalf("code %s", code)
	}
	_, _, err = s.ReserveIdempotencyKey(ctx, idemAlice, "ci-42", other)
	if code := idemCode(t, err, steward.KindInvalid); code != "idempotency_key_reused" {
		t.Fatalf("code %s", code)
	}

	header := model.ResponseHeaders{"Location": {"/api/projects/p"}, "Content-Type": {"application/vnd.api+json"}}
	if err := s.CompleteIdempotencyKey(ctx, rec, 201, header, []byte(`{"data":1}`)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		got, replay, err := s.ReserveIdempotencyKey(ctx, idemAlice, "ci-42", hash)
		if err != nil || !replay || got.Status != 201 || string(got.ResponseBody) != `{"data":1}` ||
			got.ResponseHeaders["Location"][0] != "/api/projects/p" {
			t.Fatalf("replay %d = %+v, %v, %v", i, got, replay, err)
		}
	}
	_, _, err = s.ReserveIdempotencyKey(ctx, idemAlice, "ci-42", other)
	if code := idemCode(t, err, steward.KindInvalid); code != "idempotency_key_reused" {
		t.Fatalf("a different request after completion: code %s", code)
	}

	// 4xx responses are stored too: a retry of a refused request is refused the same way.
	rec = idemReserve(t, s, idemAlice, "ci-43", hash)
	if err := s.CompleteIdempotencyKey(ctx, rec, 422, nil, []byte(`{"errors":[]}`)); err != nil {
		t.Fatal(err)
	}
	if got, replay, err := s.ReserveIdempotencyKey(ctx, idemAlice, "ci-43", hash); err != nil || !replay || got.Status != 422 {
		t.Fatalf("4xx replay = %+v, %v, %v", got, replay, err)
	}
}

func TestIdempotencyConcurrentReservationsRunOnce(t *testing.T) {
	s, _ := idemSetup(t)
	hash := model.IdempotencyRequestHash("POST", "/api/changes", "", []byte(`{}`))
	const n = 8
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		fresh   = make(chan *model.IdempotencyKey, n)
		refused = make(chan error, n)
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			rec, replay, err := s.ReserveIdempotencyKey(context.Background(), idemAlice, "deploy-7", hash)
			switch {
			case err != nil:
				refused <- err
			case !replay:
				fresh <- rec
			}
		}()
	}
	close(start)
	wg.Wait()
	close(fresh)
	close(refused)
	if len(fresh) != 1 || len(refused) != n-1 {
		t.Fatalf("%d reservations and %d refusals, want 1 and %d", len(fresh), len(refused), n-1)
	}
	for err := range refused {
		if code := idemCode(t, err, steward.KindConflict); code != "idempotency_key_in_use" {
			t.Fatalf("concurrent duplicate: code %s", code)
		}
	}
}

func TestIdempotencyServerErrorsReleaseTheKey(t *testing.T) {
	s, _ := idemSetup(t)
	ctx := context.Background()
	hash := model.IdempotencyRequestHash("POST", "/api/projects", "", nil)
	for _, release := range []func(*model.IdempotencyKey) error{
		func(rec *model.IdempotencyKey) error {
			return s.CompleteIdempotencyKey(ctx, rec, 500, nil, []byte("x"))
		},
		func(rec *model.IdempotencyKey) error { return s.CompleteIdempotencyKey(ctx, rec, 503, nil, nil) },
		func(rec *model.IdempotencyKey) error { return s.ReleaseIdempotencyKey(ctx, rec) },
	} {
		rec := idemReserve(t, s, idemAlice, "k", hash)
		if err := release(rec); err != nil {
			t.Fatal(err)
		}
		var n int64
		if err := s.DB.Model(&model.IdempotencyKey{}).Count(&n).Error; err != nil || n != 0 {
			t.Fatalf("%d keys stored after a server error (%v), want 0", n, err)
		}
	}
	// The retry runs for real.
	idemReserve(t, s, idemAlice, "k", hash)
}

func TestIdempotencyKeysExpireAfter24h(t *testing.T) {
	s, clock := idemSetup(t)
	ctx := context.Background()
	first := model.IdempotencyRequestHash("POST", "/api/projects", "", []byte("1"))
	second := model.IdempotencyRequestHash("POST", "/api/projects", "", []byte("2"))
	rec := idemReserve(t, s, idemAlice, "nightly", first)
	if err := s.CompleteIdempotencyKey(ctx, rec, 201, nil, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	idemReserve(t, s, idemBob, "old", first) // a crashed request's reservation

	clock.Advance(model.IdempotencyTTL - time.Microsecond)
	if _, replay, err := s.ReserveIdempotencyKey(ctx, idemAlice, "nightly", first); err != nil || !replay {
		t.Fatalf("just under 24 h the key still replays: %v %v", replay, err)
	}
	if n, err := s.PurgeIdempotencyKeys(ctx); err != nil || n != 0 {
		t.Fatalf("purged %d (%v) before expiry", n, err)
	}

	clock.Advance(time.Microsecond)
	// Expired: the key is free for any request again, and the old rows are purged.
	idemReserve(t, s, idemAlice, "nightly", second)
	var left []model.IdempotencyKey
	if err := s.DB.Find(&left).Error; err != nil || len(left) != 1 || left[0].RequestHash != second {
		t.Fatalf("after expiry the table holds %+v (%v), want only the new reservation", left, err)
	}
	clock.Advance(model.IdempotencyTTL)
	if n, err := s.PurgeIdempotencyKeys(ctx); err != nil || n != 1 {
		t.Fatalf("purged %d (%v), want 1", n, err)
	}
}

func TestIdempotencyUnfinishedReservationIsNeverRunAgain(t *testing.T) {
	s, clock := idemSetup(t)
	ctx := context.Background()
	hash := model.IdempotencyRequestHash("POST", "/api/changes", "", []byte("{}"))
	idemReserve(t, s, idemAlice, "crash", hash) // the process dies before completing
	clock.Advance(model.IdempotencyStaleAfter - time.Microsecond)
	_, _, err := s.ReserveIdempotencyKey(ctx, idemAlice, "crash", hash)
	if code := idemCode(t, err, steward.KindConflict); code != "idempotency_key_in_use" {
		t.Fatalf("code %s", code)
	}
	clock.Advance(time.Microsecond)
	_, _, err = s.ReserveIdempotencyKey(ctx, idemAlice, "crash", hash)
	if code := idemCode(t, err, steward.KindConflict); code != "idempotency_outcome_unknown" || !strings.Contains(err.Error(), "outcome is unknown") {
		t.Fatalf("code %s: %v", code, err)
	}
}

func TestIdempotencyKeysAreScopedToTheUser(t *testing.T) {
	s, _ := idemSetup(t)
	ctx := context.Background()
	a := idemReserve(t, s, idemAlice, "shared", model.IdempotencyRequestHash("POST", "/api/projects", "", []byte("a")))
	if err := s.CompleteIdempotencyKey(ctx, a, 201, nil, []byte("alice's")); err != nil {
		t.Fatal(err)
	}
	// Bob's key of the same name, even for the same request, is his own.
	b := idemReserve(t, s, idemBob, "shared", model.IdempotencyRequestHash("POST", "/api/projects", "", []byte("a")))
	if err := s.CompleteIdempotencyKey(ctx, b, 201, nil, []byte("bob's")); err != nil {
		t.Fatal(err)
	}
	for actor, want := range map[*model.Actor]string{idemAlice: "alice's", idemBob: "bob's"} {
		got, replay, err := s.ReserveIdempotencyKey(ctx, actor, "shared", model.IdempotencyRequestHash("POST", "/api/projects", "", []byte("a")))
		if err != nil || !replay || string(got.ResponseBody) != want {
			t.Fatalf("%s replays %+v (%v, %v), want %q", actor.Username, got, replay, err, want)
		}
	}
}

func TestCheckIdempotencyKey(t *testing.T) {
	t.Parallel()
	cases := map[string]bool{
		"a": true, "ci-run-1234/attempt.1": true, "with space ~!": true, strings.Repeat("k", 255): true,
		"": false, strings.Repeat("k", 256): false, "tab\there": false, "nl\n": false, "é": false, "del\x7f": false,
	}
	for key, ok := range cases {
		err := model.CheckIdempotencyKey(key)
		if (err == nil) != ok {
			t.Errorf("CheckIdempotencyKey(%q) = %v, want ok=%v", key, err, ok)
		}
		if err != nil && steward.ErrorKind(err) != steward.KindBadRequest {
			t.Errorf("CheckIdempotencyKey(%q) kind %s, want bad_request", key, steward.ErrorKind(err))
		}
	}
}
