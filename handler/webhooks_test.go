package handler_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stewardhq/steward/handler"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
	whmodel "github.com/stewardhq/steward/model/webhook"
	"github.com/stewardhq/steward/webhook"
)

// whServer is a test server whose webhooks may reach 127.0.0.1, with a
// delivery service running and a receiver.
func whServer(t *testing.T) (*testutil.Server, *testutil.Receiver, *webhook.Service) {
	t.Helper()
	allow, err := whmodel.ParseAllowList([]string{"127.0.0.1/32"})
	if err != nil {
		t.Fatal(err)
	}
	s := testutil.NewServerWith(t, func(api *handler.API) { api.WebhookAllow = allow })
	svc := &webhook.Service{Store: whmodel.New(s.Store, allow), Log: testutil.Logger(t), Render: handler.EventDocument,
		ListenDSN: testutil.ListenDSN(s.Store.DB)}
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Stop)
	return s, testutil.NewReceiver(t), svc
}

func whBody(attrs map[string]any) map[string]any { return testutil.Attrs("webhook", attrs) }

func TestWebhookCreateShowUpdateDelete(t *testing.T) {
	s, recv, _ := whServer(t)
	created := s.Post(t, "/api/webhooks", whBody(map[string]any{"url": recv.URL, "event_types": []string{"api:projects:*"},
		"description": "CI", "path_prefix": "/projects/opc"})).Expect(t, http.StatusCreated)
	d := created.Data(t)
	attrs := d["attributes"].(map[string]any)
	secret, _ := attrs["secret"].(string)
	if !strings.HasPrefix(secret, "whsec_") || created.Header.Get("Location") != "/api/webhooks/"+d["id"].(string) {
		t.Fatalf("create answered %s", created.Body)
	}
	self := d["links"].(map[string]any)["self"].(string)
	for _, r := range []*testutil.Response{s.Get(t, self).Expect(t, http.StatusOK), s.Get(t, "/api/webhooks").Expect(t, http.StatusOK),
		s.Get(t, "/api/events?limit=100").Expect(t, http.StatusOK)} {
		if strings.Contains(string(r.Body), secret) || strings.Contains(string(r.Body), strings.TrimPrefix(secret, "whsec_")) {
			t.Fatalf("the secret shows again: %s", r.Body)
		}
	}
	var stored whmodel.Webhook
	s.Store.DB.Take(&stored, "id = ?", d["id"])
	if stored.Secret == "" || strings.Contains(stored.Secret, strings.TrimPrefix(secret, "whsec_")) {
		t.Fatalf("the secret is not sealed at rest: %q", stored.Secret)
	}
	if l := s.Get(t, "/api/webhooks?filter[enabled_true]=1").Expect(t, http.StatusOK).List(t); len(l) != 1 {
		t.Fatalf("list = %v", l)
	}

	rotated := s.Patch(t, self, testutil.Attrs("webhook", map[string]any{"rotate_secret": true, "enabled": false})).Expect(t, http.StatusOK)
	ra := rotated.Data(t)["attributes"].(map[string]any)
	if ns, _ := ra["secret"].(string); !strings.HasPrefix(ns, "whsec_") || ns == secret || ra["enabled"] != false {
		t.Fatalf("rotation answered %s", rotated.Body)
	}
	plain := s.Patch(t, self, testutil.Attrs("webhook", map[string]any{"event_types": []string{"*"}})).Expect(t, http.StatusOK)
	if _, ok := plain.Data(t)["attributes"].(map[string]any)["secret"]; ok {
		t.Fatalf("a PATCH without rotate_secret shows the secret: %s", plain.Body)
	}
	s.Delete(t, self).Expect(t, http.StatusNoContent)
	s.Get(t, self).Expect(t, http.StatusNotFound)
}

func TestWebhookBadInput(t *testing.T) {
	s := testutil.NewServer(t) // no allow list: private addresses refused
	cases := []struct {
		name    string
		attrs   map[string]any
		status  int
		pointer string
	}{
		{"ftp scheme", map[string]any{"url": "ftp://example.com/x", "event_types": []string{"*"}}, 422, "/data/attributes/url"},
		{"loopback", map[string]any{"url": "http://127.0.0.1:9/x", "event_types": []string{"*"}}, 422, "/data/attributes/url"},
		{"localhost name", map[string]any{"url": "http://localhost:9/x", "event_types": []string{"*"}}, 422, "/data/attributes/url"},
		{"private", map[string]any{"url": "https://10.1.2.3/x", "event_types": []string{"*"}}, 422, "/data/attributes/url"},
		{"link-local metadata", map[string]any{"url": "http://169.254.169.254/latest", "event_types": []string{"*"}}, 422, "/data/attributes/url"},
		{"ipv6 loopback", map[string]any{"url": "http://[::1]:9/", "event_types": []string{"*"}}, 422, "/data/attributes/url"},
		{"credentials in url", map[string]any{"url": "https://u:p@example.com/", "event_types": []string{"*"}}, 422, "/data/attributes/url"},
		{"no url", map[string]any{"event_types": []string{"*"}}, 422, "/data/attributes/url"},
		{"no patterns", map[string]any{"url": "https://203.0.113.9/x"}, 422, "/data/attributes/event_types"},
		{"empty patterns", map[string]any{"url": "https://203.0.113.9/x", "event_types": []string{}}, 422, "/data/attributes/event_types"},
		{"bad pattern", map[string]any{"url": "https://203.0.113.9/x", "event_types": []string{"api:changes:%"}}, 422, "/data/attributes/event_types"},
		{"pattern not a string", map[string]any{"url": "https://203.0.113.9/x", "event_types": []any{1}}, 422, "/data/attributes/event_types"},
		{"bad prefix", map[string]any{"url": "https://203.0.113.9/x", "event_types": []string{"*"}, "path_prefix": "projects"}, 422, "/data/attributes/path_prefix"},
		{"unknown attribute", map[string]any{"url": "https://203.0.113.9/x", "event_types": []string{"*"}, "secret": "mine"}, 422, "/data/attributes/secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.Post(t, "/api/webhooks", whBody(tc.attrs)).Expect(t, tc.status)
			e := r.ErrorObject(t)
			if tc.pointer != "" {
				if src, _ := e["source"].(map[string]any); src == nil || src["pointer"] != tc.pointer {
					t.Errorf("source = %v, want pointer %s", e["source"], tc.pointer)
				}
			}
			if e["detail"] == "" {
				t.Error("no detail")
			}
		})
	}
	if n := testutil.Count(t, s.Store.DB, "webhooks"); n != 0 {
		t.Fatalf("bad input left %d subscriptions", n)
	}
	big := `{"data":{"type":"webhook","attributes":{"url":"https://203.0.113.9/","event_types":["*"],"description":"` + strings.Repeat("x", 2<<20) + `"}}}`
	s.Do(t, testutil.Request{Method: http.MethodPost, Path: "/api/webhooks", Body: big}).Expect(t, http.StatusRequestEntityTooLarge)
}

func TestWebhookDeliveriesAndRedeliver(t *testing.T) {
	s, recv, svc := whServer(t)
	d := s.Post(t, "/api/webhooks", whBody(map[string]any{"url": recv.URL, "event_types": []string{"api:projects:create"}})).
		Expect(t, http.StatusCreated).Data(t)
	self := d["links"].(map[string]any)["self"].(string)
	s.Post(t, "/api/projects", testutil.Attrs("project", map[string]any{"code": "opc", "name": "OpsChain"})).Expect(t, http.StatusCreated)
	var list []any
	testutil.WaitSignal(t, "delivered", svc.Attempted(), func() (bool, string) {
		list = s.Get(t, self+"/deliveries").Expect(t, http.StatusOK).List(t)
		if len(list) != 1 {
			return false, "no delivery"
		}
		st := list[0].(map[string]any)["attributes"].(map[string]any)["status"]
		return st == "success", st.(string)
	})
	del := list[0].(map[string]any)
	dself := del["links"].(map[string]any)["self"].(string)
	shown := s.Get(t, dself).Expect(t, http.StatusOK).Data(t)["attributes"].(map[string]any)
	if log, _ := shown["attempt_log"].([]any); len(log) != 1 || log[0].(map[string]any)["response_status"] != float64(200) {
		t.Fatalf("attempt log = %v", shown["attempt_log"])
	}
	s.Post(t, dself+"/redeliver", nil).Expect(t, http.StatusAccepted)
	testutil.WaitSignal(t, "delivered again", svc.Attempted(), func() (bool, string) {
		return len(recv.Got()) == 2, "waiting"
	})
	got := recv.Got()
	if got[0].Header.Get("Webhook-Id") != got[1].Header.Get("Webhook-Id") {
		t.Error("a redelivery keeps the webhook-id")
	}
	s.Get(t, self+"/deliveries/"+model.NewID()).Expect(t, http.StatusNotFound)
	s.Get(t, "/api/webhooks/"+model.NewID()+"/deliveries").Expect(t, http.StatusNotFound)
}
