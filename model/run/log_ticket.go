package run

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"time"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
)

// LogStreamTicketTTL is how long a log stream ticket opens its stream.
const LogStreamTicketTTL = 60 * time.Second

// LogStreamTicket lets a browser's EventSource, which cannot send headers,
// follow one change's live log without putting an API token in a URL: it
// opens that change's stream only, for a minute.
type LogStreamTicket struct {
	Ticket    string
	ChangeID  string
	ExpiresAt time.Time
}

// ticketClaims is what a ticket carries, sealed with the server's key and
// bound to its change (the change id is the sealing's associated data), so
// any replica sharing the key accepts it and nothing can be altered.
type ticketClaims struct {
	UserID  string `json:"u"`
	Expires int64  `json:"exp"`
}

func ticketBinding(changeID string) string { return "log_stream_ticket:" + changeID }

// IssueLogStreamTicket gives actor a ticket for change id's live log.
func (s *Store) IssueLogStreamTicket(ctx context.Context, actor *model.Actor, changeID string) (*LogStreamTicket, error) {
	c, err := s.GetChange(ctx, changeID)
	if err != nil {
		return nil, err
	}
	// A ticket opens the change's log: who may not read it gets none.
	if _, err := s.LogChangeStatus(ctx, c.ID); err != nil {
		return nil, err
	}
	if s.Secrets == nil || actor.UserID == "" {
		return nil, steward.Errorf(steward.KindForbidden, "this server cannot issue log stream tickets to %s", actor.Name())
	}
	exp := s.Now().Add(LogStreamTicketTTL)
	claims, _ := json.Marshal(ticketClaims{UserID: actor.UserID, Expires: exp.Unix()})
	sealed, err := s.Secrets.Seal(string(claims), ticketBinding(c.ID))
	if err != nil {
		return nil, err
	}
	// URL-safe: the ticket travels as ?ticket= in an EventSource URL.
	return &LogStreamTicket{Ticket: base64.RawURLEncoding.EncodeToString([]byte(sealed)), ChangeID: c.ID, ExpiresAt: exp}, nil
}

// AuthenticateLogStreamTicket returns who a ticket was issued to, when it is
// one for change id's stream and has not expired.
func (s *Store) AuthenticateLogStreamTicket(ctx context.Context, changeID, ticket string) (*model.Actor, error) {
	refused := steward.Errorf(steward.KindUnauthorized,
		"the ticket is not valid for this change's log stream (tickets last %s; ask for a new one)", LogStreamTicketTTL)
	if s.Secrets == nil || ticket == "" || len(ticket) > 1024 {
		return nil, refused
	}
	id, ok := steward.ParseID(changeID)
	if !ok {
		return nil, refused
	}
	sealed, err := base64.RawURLEncoding.DecodeString(ticket)
	if err != nil {
		return nil, refused
	}
	plain, err := s.Secrets.Open(string(sealed), ticketBinding(id))
	if err != nil {
		return nil, refused
	}
	var claims ticketClaims
	if json.Unmarshal([]byte(plain), &claims) != nil || !s.Now().Before(time.Unix(claims.Expires, 0)) {
		return nil, refused
	}
	var u model.User
	err = s.Read(ctx, func(db *gorm.DB) error { return db.Preload("Groups").Where("id = ?", claims.UserID).Take(&u).Error })
	if err != nil {
		if model.ModelNotFound(err) {
			return nil, refused
		}
		return nil, err
	}
	return s.ActorFor(ctx, &u)
}
