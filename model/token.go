package model

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/listquery"
)

// APIToken is a bearer token. Only its SHA-256 hash is stored; the secret is
// shown once, when it is created.
type APIToken struct {
	ID         string `gorm:"primaryKey"`
	UserID     string
	Name       string
	TokenHash  string
	Prefix     string // first characters of the secret, to tell tokens apart
	CreatedAt  time.Time
	LastUsedAt *time.Time
	ExpiresAt  *time.Time
	RevokedAt  *time.Time
	User       *User `gorm:"foreignKey:UserID"`
}

// TokenPrefix starts every token so secret scanners can recognise one.
const TokenPrefix = "stw_"

// HashToken is how tokens are stored and looked up.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// NewTokenSecret returns a fresh random token secret.
func NewTokenSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // the OS random source does not fail on Linux
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// CreateToken issues a token for username (admins for anyone, others only for
// themselves) that lives for ttl (0: no expiry). secret is used when not empty
// (the bootstrap admin token). It returns the record and the secret, which is
// never stored.
func (s *Store) CreateToken(ctx context.Context, actor *Actor, username, name string, ttl time.Duration, secret string) (*APIToken, string, error) {
	if ttl < 0 {
		return nil, "", steward.Invalid("expires_at", "invalid", "expiry must be in the future")
	}
	var expires *time.Time
	if ttl > 0 {
		exp := s.Now().Add(ttl)
		expires = &exp
	}
	return s.CreateTokenUntil(ctx, actor, username, name, expires, secret)
}

// CreateTokenUntil is CreateToken with an absolute expiry (nil: none), which
// must lie in the future: 422 on /data/attributes/expires_at otherwise. 403
// when a non-admin names another user; 422 for an unknown username.
func (s *Store) CreateTokenUntil(ctx context.Context, actor *Actor, username, name string, expires *time.Time, secret string) (*APIToken, string, error) {
	if username == "" {
		username = actor.Name()
	}
	if username != actor.Name() && !actor.IsAdmin() {
		return nil, "", steward.Errorf(steward.KindForbidden, "only administrators may create tokens for other users")
	}
	now := s.Now()
	if expires != nil && !expires.After(now) {
		return nil, "", steward.Invalid("expires_at", "invalid", "expires_at must be in the future")
	}
	if len(name) > 200 {
		return nil, "", steward.Invalid("name", "too_long", "name must be at most 200 characters")
	}
	if secret == "" {
		secret = NewTokenSecret()
	} else if len(secret) < 16 {
		return nil, "", steward.Errorf(steward.KindInvalid, "a token must be at least 16 characters long")
	}
	tok := &APIToken{ID: NewID(), Name: name, TokenHash: HashToken(secret), Prefix: prefixOf(secret), CreatedAt: now}
	if expires != nil {
		exp := expires.UTC().Truncate(time.Microsecond)
		tok.ExpiresAt = &exp
	}
	err := s.Write(ctx, func(tx *gorm.DB) error {
		var u User
		if err := tx.Where("username = ?", username).Take(&u).Error; err != nil {
			if err == gorm.ErrRecordNotFound {
				return steward.Invalid("username", "not_found", "user %q does not exist", username)
			}
			return err
		}
		tok.UserID, tok.User = u.ID, &u
		if err := tx.Omit("User").Create(tok).Error; err != nil {
			return err
		}
		// "username" is the event's own attribute (who acted), so the
		// token's owner is recorded as "owner".
		return s.Record(tx, actor, "api:tokens:create", nil, JSONMap{"token_id": tok.ID, "owner": username})
	})
	if err != nil {
		return nil, "", err
	}
	return tok, secret, nil
}

func prefixOf(secret string) string {
	if len(secret) > 8 {
		return secret[:8]
	}
	return secret
}

// Authenticate resolves a bearer secret to its actor. Unknown, expired and
// revoked tokens are all 401 with the same message, so probing learns nothing.
func (s *Store) Authenticate(ctx context.Context, secret string) (*Actor, error) {
	unauthorized := steward.Errorf(steward.KindUnauthorized, "a valid API token is required: send Authorization: Bearer <token>")
	secret = strings.TrimSpace(secret)
	if secret == "" {
		return nil, unauthorized
	}
	hash := HashToken(secret)
	if s.tokens != nil {
		if a, ok := s.tokens.get(hash, s.Now()); ok {
			return a, nil
		}
	}
	var tok APIToken
	err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Preload("User.Groups").Where("token_hash = ?", hash).Take(&tok).Error
	})
	if ModelNotFound(err) {
		return nil, unauthorized
	}
	if err != nil {
		return nil, err
	}
	now := s.Now()
	if tok.RevokedAt != nil || (tok.ExpiresAt != nil && !now.Before(*tok.ExpiresAt)) || tok.User == nil {
		return nil, unauthorized
	}
	// last_used_at is advisory: write it at most once a minute per token so
	// authentication does not turn every read into a write.
	if tok.LastUsedAt == nil || now.Sub(*tok.LastUsedAt) > time.Minute {
		_ = s.DB.WithContext(ctx).Model(&APIToken{}).Where("id = ?", tok.ID).Update("last_used_at", now).Error
	}
	a, err := s.ActorFor(ctx, tok.User)
	if err != nil {
		return nil, err
	}
	if s.tokens != nil {
		s.tokens.put(hash, tok.ID, tok.ExpiresAt, a, now)
	}
	return a, nil
}

// ActorFor is user (groups preloaded) as an actor, with the rules of every
// policy assigned to it or to one of its groups.
func (s *Store) ActorFor(ctx context.Context, u *User) (*Actor, error) {
	a := &Actor{UserID: u.ID, Username: u.Username, Groups: u.GroupNames()}
	var err error
	a.Rules, err = s.rulesOf(ctx, a)
	return a, err
}

// tokensQuery scopes the token list: admins see all, others their own.
func tokensQuery(db *gorm.DB, actor *Actor) *gorm.DB {
	q := db.Model(&APIToken{}).Preload("User")
	if !actor.IsAdmin() {
		q = q.Where("user_id = ?", actor.UserID)
	}
	return q
}

// TokenFilters are the attributes an API token list may filter and sort by (attribute -> column).
var TokenFilters = map[string]listquery.Field{
	"id": {Column: "id", Kind: listquery.UUID}, "name": {Column: "name"},
	"created_at":   {Column: "created_at", Kind: listquery.Time},
	"last_used_at": {Column: "last_used_at", Kind: listquery.Time},
	"expires_at":   {Column: "expires_at", Kind: listquery.Time},
	"revoked_at":   {Column: "revoked_at", Kind: listquery.Time},
}

// TokenList is the tokens actor may see, as a list source.
func (s *Store) TokenList(actor *Actor) Source[APIToken] {
	return NewSource[APIToken](s, "id", func(db *gorm.DB) *gorm.DB { return tokensQuery(db, actor) })
}

// RevokeToken revokes token id. Users revoke their own; admins any. A token
// the actor may not see is reported as not found; revoking twice is a no-op.
func (s *Store) RevokeToken(ctx context.Context, actor *Actor, id string) error {
	id, ok := steward.ParseID(id)
	if !ok {
		return steward.NotFound("token", id)
	}
	err := s.Write(ctx, func(tx *gorm.DB) error {
		var tok APIToken
		if err := tokensQuery(tx, actor).Where("api_tokens.id = ?", id).Take(&tok).Error; err != nil {
			if err == gorm.ErrRecordNotFound {
				return steward.NotFound("token", id)
			}
			return err
		}
		if tok.RevokedAt != nil {
			return nil
		}
		now := s.Now()
		if err := tx.Model(&APIToken{}).Where("id = ?", id).Update("revoked_at", now).Error; err != nil {
			return err
		}
		return s.Record(tx, actor, "api:tokens:revoke", nil, JSONMap{"token_id": id})
	})
	if err == nil && s.tokens != nil {
		s.tokens.forget(id)
	}
	return err
}

// HasTokens reports whether any token exists (to decide on bootstrapping).
func (s *Store) HasTokens(ctx context.Context) (bool, error) {
	var n int64
	err := s.Read(ctx, func(db *gorm.DB) error { return db.Model(&APIToken{}).Limit(1).Count(&n).Error })
	return n > 0, err
}

// EnsureAdmin creates the admin user and group when missing, and the
// superuser policy the admin group holds.
func (s *Store) EnsureAdmin(ctx context.Context) error {
	if err := s.EnsureSuperuser(ctx); err != nil {
		return err
	}
	_, err := s.UserByName(ctx, "admin")
	if err == nil {
		return nil
	}
	if !ModelNotFound(err) {
		return err
	}
	_, err = s.CreateUser(ctx, SystemActor, "admin", []string{AdminGroup})
	return err
}
