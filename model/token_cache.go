package model

import (
	"sync"
	"time"
)

// TokenCacheTTL is how long an authenticated token (with its user, groups
// and authorisation rules) is remembered. Without
// it every request costs the token's, user's and groups' queries. A
// revocation in this process takes effect at once; one made on another
// replica, an expiry, or a change of the user's groups within this time.
const TokenCacheTTL = time.Second

// tokenCacheMax bounds the cache; past it, it starts over.
const tokenCacheMax = 10_000

type tokenCache struct {
	mu      sync.Mutex
	entries map[string]tokenEntry // by token hash
}

type tokenEntry struct {
	actor   Actor
	tokenID string
	expires *time.Time // the token's own expiry
	until   time.Time  // when the entry is no longer trusted
}

func newTokenCache() *tokenCache { return &tokenCache{entries: map[string]tokenEntry{}} }

func (c *tokenCache) get(hash string, now time.Time) (*Actor, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[hash]
	if !ok || !now.Before(e.until) || (e.expires != nil && !now.Before(*e.expires)) {
		return nil, false
	}
	a := e.actor
	a.Groups = append([]string(nil), e.actor.Groups...)
	return &a, true
}

func (c *tokenCache) put(hash, tokenID string, expires *time.Time, a *Actor, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= tokenCacheMax {
		c.entries = map[string]tokenEntry{}
	}
	c.entries[hash] = tokenEntry{actor: *a, tokenID: tokenID, expires: expires, until: now.Add(TokenCacheTTL)}
}

// forget drops token id at once (it was revoked here).
func (c *tokenCache) forget(tokenID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for h, e := range c.entries {
		if e.tokenID == tokenID {
			delete(c.entries, h)
		}
	}
}

// clear drops every entry: rules, policies or assignments changed here, and
// the next request of every token must see them.
func (c *tokenCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = map[string]tokenEntry{}
}
