package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/handler"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
	whmodel "github.com/stewardhq/steward/model/webhook"
	"github.com/stewardhq/steward/webhook"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type bundle struct {
	store *whmodel.Store
	clock *testutil.Clock
	recv  *testutil.Receiver
	hook  *whmodel.Webhook
}

func allowLocal(t *testing.T) *whmodel.AllowList {
	t.Helper()
	a, err := whmodel.ParseAllowList([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// setup is a store on a fresh database with a settable clock, a receiver,
// and one subscription to every event posting to it.
func setup(t *testing.T, rs *run.Store) *bundle {
	t.Helper()
	if rs == nil {
		rs = testutil.NewStore(t)
	}
	b := &bundle{clock: testutil.NewClock(t0), recv: testutil.NewReceiver(t)}
	rs.Now = b.clock.Now
	b.store = whmodel.New(rs, allowLocal(t))
	url := b.recv.URL + "/hook"
	var err error
	b.hook, err = b.store.Create(context.Background(), model.SystemActor, whmodel.Input{URL: &url, EventTypes: []string{"custom:*"}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// service starts a delivery service on store; timeout 0 is the default
// (the frozen clock never brings a failed attempt back, so only the test of
// timeouts makes them short).
func (b *bundle) service(t *testing.T, store *whmodel.Store, dsn string, timeout time.Duration) *webhook.Service {
	t.Helper()
	s := &webhook.Service{Store: store, Log: testutil.Logger(t), Render: handler.EventDocument, Timeout: timeout,
		Backoff: func(n int) time.Duration { return time.Duration(n) * time.Minute }, ListenDSN: dsn}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func (b *bundle) event(t *testing.T, typ string) *model.Event {
	t.Helper()
	ev, err := b.store.CreateEvent(context.Background(), &model.Actor{Username: "ci", Rules: testutil.Everywhere}, typ, model.JSONMap{"n": 1})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func (b *bundle) deliveries(t *testing.T) []whmodel.Delivery {
	t.Helper()
	var rows []whmodel.Delivery
	if err := b.store.DB.Order("id").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	return rows
}

// waitDeliveries waits, on the service's Attempted signal, until every
// delivery satisfies ok.
func (b *bundle) waitDeliveries(t *testing.T, s *webhook.Service, what string, ok func(whmodel.Delivery) bool) []whmodel.Delivery {
	t.Helper()
	var rows []whmodel.Delivery
	testutil.WaitSignal(t, what, s.Attempted(), func() (bool, string) {
		rows = b.deliveries(t)
		for _, d := range rows {
			if !ok(d) {
				return false, fmt.Sprintf("delivery %s: %s after %d attempts", d.ID, d.Status, d.Attempts)
			}
		}
		return len(rows) > 0, fmt.Sprintf("%d deliveries", len(rows))
	})
	return rows
}

// verify is an independent reading of the Standard Webhooks spec: the
// secret is whsec_ + base64 key; the signed content is id.timestamp.body;
// the header holds space-separated "v1,<base64>" signatures, any of which
// may match; the timestamp must be recent.
func verify(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	id, ts := h.Get("Webhook-Id"), h.Get("Webhook-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return fmt.Errorf("timestamp %q not within tolerance", ts)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", id, ts, body)
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(h.Get("Webhook-Signature")) {
		version, value, _ := strings.Cut(sig, ",")
		got, err := base64.StdEncoding.DecodeString(value)
		if version == "v1" && err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("no signature matches")
}

func TestDeliverySignedBodyIsTheEventDocument(t *testing.T) {
	b := setup(t, nil)
	s := b.service(t, b.store, testutil.ListenDSN(b.store.DB), 0)
	ev := b.event(t, "custom:deployed")
	b.event(t, "other:ignored") // matches no pattern: no delivery
	rows := b.waitDeliveries(t, s, "delivered", func(d whmodel.Delivery) bool { return d.Status == whmodel.StatusSuccess })
	if len(rows) != 1 || rows[0].EventID != ev.ID || rows[0].Attempts != 1 {
		t.Fatalf("deliveries = %+v, want one of event %s", rows, ev.ID)
	}
	got := b.recv.Got()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests", len(got))
	}
	if err := verify(b.hook.PlainSecret, got[0].Header, got[0].Body, t0); err != nil {
		t.Fatalf("signature: %v (headers %v)", err, got[0].Header)
	}
	if got[0].Header.Get("Webhook-Id") != ev.ID {
		t.Errorf("webhook-id = %q, want the event id %s", got[0].Header.Get("Webhook-Id"), ev.ID)
	}
	want, _ := handler.EventDocument(ev)
	if string(got[0].Body) != string(want) {
		t.Errorf("body = %s, want the event document %s", got[0].Body, want)
	}
	var doc struct {
		Data struct{ Type, ID string }
	}
	if err := json.Unmarshal(got[0].Body, &doc); err != nil || doc.Data.Type != "event" || doc.Data.ID != ev.ID {
		t.Errorf("body is not the event's JSON:API document: %s", got[0].Body)
	}
	// A wrong secret does not verify: the check above means something.
	if verify("whsec_"+base64.StdEncoding.EncodeToString([]byte("not the key")), got[0].Header, got[0].Body, t0) == nil {
		t.Error("a wrong secret verified")
	}
	attempts, err := b.store.AttemptsOf(context.Background(), []string{rows[0].ID})
	if err != nil || len(attempts[rows[0].ID]) != 1 {
		t.Fatalf("attempts = %v, %v", attempts, err)
	}
	a := attempts[rows[0].ID][0]
	if a.ResponseStatus == nil || *a.ResponseStatus != 200 || a.RequestHeaders["Webhook-Id"] != ev.ID {
		t.Errorf("attempt = %+v", a)
	}
	for k, v := range a.RequestHeaders {
		if strings.Contains(fmt.Sprint(v), b.hook.PlainSecret) {
			t.Errorf("header %s holds the secret", k)
		}
	}
}

func TestRetriesAfter500AndTimeoutThenSuccess(t *testing.T) {
	b := setup(t, nil)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	b.recv.Respond = func(n int, w http.ResponseWriter, r *http.Request) {
		switch n {
		case 1:
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(strings.Repeat("x", 10000))) // kept to 4 KiB
		case 2:
			select { // never answers in time: the client's timeout ends it
			case <-r.Context().Done():
			case <-release:
			}
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}
	s := b.service(t, b.store, testutil.ListenDSN(b.store.DB), 500*time.Millisecond)
	b.event(t, "custom:x")
	rows := b.waitDeliveries(t, s, "first attempt", func(d whmodel.Delivery) bool { return d.Attempts == 1 })
	d := rows[0]
	if d.Status != whmodel.StatusPending || d.LastStatus == nil || *d.LastStatus != 500 || !d.NextAttemptAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after a 500: %+v", d)
	}
	b.clock.Advance(time.Minute)
	s.Wake()
	rows = b.waitDeliveries(t, s, "second attempt", func(d whmodel.Delivery) bool { return d.Attempts == 2 })
	if d := rows[0]; d.Status != whmodel.StatusPending || d.LastError == nil || !d.NextAttemptAt.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("after a timeout: %+v", d)
	}
	b.clock.Advance(2 * time.Minute)
	s.Wake()
	rows = b.waitDeliveries(t, s, "success", func(d whmodel.Delivery) bool { return d.Status == whmodel.StatusSuccess })
	attempts, _ := b.store.AttemptsOf(context.Background(), []string{rows[0].ID})
	log := attempts[rows[0].ID]
	if len(log) != 3 || *log[0].ResponseStatus != 500 || len(*log[0].ResponseBody) != webhook.ResponseLimit ||
		log[1].ResponseStatus != nil || log[1].Error == nil || *log[2].ResponseStatus != 204 {
		t.Fatalf("attempt log = %+v", log)
	}
	var hook whmodel.Webhook
	b.store.DB.Take(&hook, "id = ?", b.hook.ID)
	if hook.FailingSince != nil || !hook.Enabled {
		t.Errorf("a success clears the failure window: %+v", hook)
	}
}

func TestOutboxSurvivesNoServiceThenDelivers(t *testing.T) {
	b := setup(t, nil)
	var ids []string
	for i := 0; i < 5; i++ { // committed while no service runs: as if the server died after commit
		ids = append(ids, b.event(t, "custom:x").ID)
	}
	if n := len(b.deliveries(t)); n != 5 {
		t.Fatalf("outbox rows = %d, want 5", n)
	}
	s := b.service(t, b.store, testutil.ListenDSN(b.store.DB), 0)
	b.waitDeliveries(t, s, "all delivered", func(d whmodel.Delivery) bool { return d.Status == whmodel.StatusSuccess })
	seen := map[string]int{}
	for _, r := range b.recv.Got() {
		seen[r.Header.Get("Webhook-Id")]++
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("event %s delivered %d times", id, seen[id])
		}
	}
}

func TestRedeliver(t *testing.T) {
	b := setup(t, nil)
	s := b.service(t, b.store, testutil.ListenDSN(b.store.DB), 0)
	ev := b.event(t, "custom:x")
	rows := b.waitDeliveries(t, s, "delivered", func(d whmodel.Delivery) bool { return d.Status == whmodel.StatusSuccess })
	if _, err := b.store.Redeliver(context.Background(), model.SystemActor, b.hook, &rows[0]); err != nil {
		t.Fatal(err)
	}
	b.waitDeliveries(t, s, "delivered again", func(d whmodel.Delivery) bool { return d.Status == whmodel.StatusSuccess && d.Attempts == 2 })
	got := b.recv.Got()
	if len(got) != 2 || got[1].Header.Get("Webhook-Id") != ev.ID {
		t.Fatalf("receiver got %d requests", len(got))
	}
}

func TestDisabledAfter24HoursOfFailure(t *testing.T) {
	b := setup(t, nil)
	b.recv.Respond = func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }
	s := &webhook.Service{Store: b.store, Log: testutil.Logger(t), Render: handler.EventDocument,
		Backoff: func(int) time.Duration { return 12 * time.Hour }, ListenDSN: testutil.ListenDSN(b.store.DB)}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	b.event(t, "custom:x")
	for n := 1; n <= 3; n++ {
		b.waitDeliveries(t, s, fmt.Sprintf("attempt %d", n), func(d whmodel.Delivery) bool { return d.Attempts == n })
		b.clock.Advance(12 * time.Hour)
		s.Wake()
	}
	d := b.deliveries(t)[0]
	if d.Status != whmodel.StatusFailed || d.NextAttemptAt != nil {
		t.Fatalf("after 24 h of failures the delivery gives up: %+v", d)
	}
	var hook whmodel.Webhook
	b.store.DB.Take(&hook, "id = ?", b.hook.ID)
	if hook.Enabled || hook.DisabledReason == nil {
		t.Fatalf("the subscription is disabled: %+v", hook)
	}
	if n := testutil.Count(t, b.store.DB, "events WHERE type = 'api:webhooks:disable'"); n != 1 {
		t.Fatalf("disable events = %d", n)
	}
	b.event(t, "custom:after")
	if n := len(b.deliveries(t)); n != 1 {
		t.Errorf("a disabled subscription gets no deliveries: %d rows", n)
	}
}

// Two services on their own connections (as two replicas) share one
// database: every delivery is sent exactly once.
func TestTwoServicesDeliverEachOnce(t *testing.T) {
	url := testutil.DatabaseURL(t)
	one, two := testutil.StoreWithSecrets(t, url), testutil.StoreWithSecrets(t, url)
	b := setup(t, one)
	two.Now = b.clock.Now
	dsn := testutil.ListenDSN(one.DB)
	s1 := b.service(t, b.store, dsn, 0)
	s2 := b.service(t, whmodel.New(two, allowLocal(t)), dsn, 0)
	const n = 60
	for i := 0; i < n; i++ {
		b.event(t, "custom:x")
	}
	var rows []whmodel.Delivery
	testutil.WaitFor(t, "every delivery", func() (bool, string) {
		rows = b.deliveries(t)
		done := 0
		for _, d := range rows {
			if d.Status == whmodel.StatusSuccess {
				done++
			}
		}
		return done == n, fmt.Sprintf("%d of %d", done, n)
	})
	_, _ = s1, s2
	seen := map[string]int{}
	for _, r := range b.recv.Got() {
		seen[r.Header.Get("Webhook-Id")]++
	}
	for _, d := range rows {
		if seen[d.EventID] != 1 || d.Attempts != 1 {
			t.Errorf("event %s sent %d times (%d attempts)", d.EventID, seen[d.EventID], d.Attempts)
		}
	}
}

// A disabled subscription's pending deliveries wait (paused); enabling it
// sends them.
func TestDisabledSubscriptionPausesThenResumes(t *testing.T) {
	b := setup(t, nil)
	b.event(t, "custom:x")
	off, on := false, true
	if _, err := b.store.Update(context.Background(), model.SystemActor, b.hook, whmodel.Input{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	s := b.service(t, b.store, testutil.ListenDSN(b.store.DB), 0)
	if d := b.deliveries(t)[0]; d.NextAttemptAt != nil || d.Status != whmodel.StatusPending {
		t.Fatalf("paused delivery = %+v", d)
	}
	b.event(t, "custom:y") // no delivery for a disabled subscription
	if _, err := b.store.Update(context.Background(), model.SystemActor, b.hook, whmodel.Input{Enabled: &on}); err != nil {
		t.Fatal(err)
	}
	rows := b.waitDeliveries(t, s, "resumed", func(d whmodel.Delivery) bool { return d.Status == whmodel.StatusSuccess })
	if len(rows) != 1 || len(b.recv.Got()) != 1 {
		t.Fatalf("%d deliveries, %d sent", len(rows), len(b.recv.Got()))
	}
}
