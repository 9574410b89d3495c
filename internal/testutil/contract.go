package testutil

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	steward "github.com/stewardhq/steward"
)

var (
	contractOnce   sync.Once
	contractDoc    *openapi3.T
	contractRouter routers.Router
	contractErr    error
)

// Contract loads openapi.yaml (the embedded copy, so tests need nothing outside the repo).
func Contract(t testing.TB) (*openapi3.T, routers.Router) {
	t.Helper()
	contractOnce.Do(func() {
		openapi3filter.RegisterBodyDecoder("application/vnd.api+json", openapi3filter.JSONBodyDecoder)
		loader := openapi3.NewLoader()
		contractDoc, contractErr = loader.LoadFromData(steward.OpenAPI)
		if contractErr != nil {
			return
		}
		if contractErr = contractDoc.Validate(context.Background()); contractErr != nil {
			return
		}
		contractRouter, contractErr = gorillamux.NewRouter(contractDoc)
	})
	if contractErr != nil {
		t.Fatalf("openapi.yaml: %v", contractErr)
	}
	return contractDoc, contractRouter
}

// CheckContract validates a response against the operation openapi.yaml
// documents for the request. Requests to routes the contract does not know are
// left to the route-coverage test; so are 404s for unknown routes.
func CheckContract(t testing.TB, req *http.Request, reqBody []byte, resp *Response) {
	t.Helper()
	_, router := Contract(t)
	probe := req.Clone(context.Background())
	probe.URL.Scheme, probe.URL.Host = "", ""
	if reqBody != nil {
		probe.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	route, params, err := router.FindRoute(probe)
	if err != nil {
		return
	}
	ct := resp.Header.Get("Content-Type")
	// A sparse fieldset (fields[type]=...) leaves out attributes the schemas
	// require; such responses are checked by the tests that ask for them.
	if resp.Status == http.StatusNoContent || !strings.Contains(ct, "json") || sparse(req) {
		if _, ok := route.Operation.Responses.Map()[statusKey(resp.Status)]; !ok && resp.Status < 400 {
			t.Errorf("contract: %s %s answered %d, which openapi.yaml does not list", req.Method, req.URL.Path, resp.Status)
		}
		return
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: probe, PathParams: params, Route: route},
		Status:                 resp.Status,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(resp.Body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		t.Errorf("contract: %s %s -> %d does not match openapi.yaml: %v\nbody: %s", req.Method, req.URL.Path, resp.Status, err, truncate(resp.Body))
	}
}

func sparse(req *http.Request) bool {
	for k := range req.URL.Query() {
		if strings.HasPrefix(k, "fields[") {
			return true
		}
	}
	return false
}

func statusKey(s int) string {
	return itoa(s)
}

func itoa(n int) string {
	b := []byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)}
	return string(b)
}

func truncate(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "..."
	}
	return string(b)
}
