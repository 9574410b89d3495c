package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// MediaType is the JSON:API media type every request and document uses.
const MediaType = "application/vnd.api+json"

// maxDocument bounds a response body the client reads into memory (a list
// of 1000 changes is well under it).
const maxDocument = 64 << 20

// Client calls one Steward server. Its zero value is not usable: build it
// with New. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	// HTTP sends the requests; http.DefaultClient unless set. Give it no
	// Timeout: a log follow stays open as long as the change runs. Bound
	// calls with their context instead.
	HTTP *http.Client
	// UserAgent is sent with every request.
	UserAgent string
}

// New returns a client for the server at baseURL (http://host:8080; a
// trailing /api is accepted too), authenticating with the API token.
func New(baseURL, token string) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server URL %q must be http:// or https:// and name a host", baseURL)
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/api")
	u.RawQuery, u.Fragment = "", ""
	return &Client{base: u, token: token, UserAgent: "steward-go-client"}, nil
}

// URL is the server's base URL, without /api.
func (c *Client) URL() string { return c.base.String() }

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// request is one call: path is below the base URL and starts with /api.
type request struct {
	method string
	path   string
	query  url.Values
	body   []byte
	header http.Header
}

// send makes the request and returns the response unread when its status is
// below 400; a refusal is read and returned as an *Error.
func (c *Client) send(ctx context.Context, req request) (*http.Response, error) {
	// req.path holds escaped segments already, so it is appended as text
	// rather than set as url.URL.Path (which would escape them again).
	target := strings.TrimSuffix(c.base.String(), "/") + req.path
	if q := req.query.Encode(); q != "" {
		target += "?" + q
	}
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, target, body)
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Accept", MediaType)
	if req.body != nil {
		hr.Header.Set("Content-Type", MediaType)
	}
	if c.token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.UserAgent != "" {
		hr.Header.Set("User-Agent", c.UserAgent)
	}
	for k, vs := range req.header {
		hr.Header[k] = vs
	}
	resp, err := c.httpClient().Do(hr)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxDocument))
		return nil, decodeError(resp.StatusCode, b)
	}
	return resp, nil
}

// call makes the request and reads the whole body.
func (c *Client) call(ctx context.Context, req request) ([]byte, error) {
	resp, err := c.send(ctx, req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read response: %w", req.method, req.path, err)
	}
	if len(b) > maxDocument {
		return nil, fmt.Errorf("%s %s: response larger than %d bytes", req.method, req.path, maxDocument)
	}
	return b, nil
}

// getOne reads the single-resource document at path into v.
func (c *Client) getOne(ctx context.Context, path string, query url.Values, v any) error {
	b, err := c.call(ctx, request{method: http.MethodGet, path: path, query: query})
	if err != nil {
		return err
	}
	return decodeOne(b, v)
}

// getList reads the list document at path.
func getList[T any](ctx context.Context, c *Client, path string, query url.Values) (*List[T], error) {
	b, err := c.call(ctx, request{method: http.MethodGet, path: path, query: query})
	if err != nil {
		return nil, err
	}
	return decodeMany[T](b)
}

// escape escapes one path segment (a code or an id).
func escape(segment string) string { return url.PathEscape(segment) }
