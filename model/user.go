package model

import (
	"context"
	"regexp"
	"sort"
	"time"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/authz"
	"github.com/stewardhq/steward/pkg/listquery"
)

// AdminGroup is the group whose members may manage users, groups and every token.
const AdminGroup = "admin"

// User is a local account; what it may do comes from its groups.
type User struct {
	ID           string `gorm:"primaryKey"`
	Username     string
	AuthProvider string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Groups       []Group `gorm:"many2many:group_members;joinForeignKey:UserID;joinReferences:GroupID"`
}

// Group is a named set of users (approvers, admins, ...).
type Group struct {
	ID             string   `gorm:"primaryKey"`
	CN             string   `gorm:"column:cn"`
	AlternativeCNs JSONList `gorm:"column:alternative_cns"`
	CreatedAt      time.Time
	UpdatedAt      time.Time
	Users          []User `gorm:"many2many:group_members;joinForeignKey:GroupID;joinReferences:UserID"`
}

// GroupNames lists the user's group names, sorted (groups must be preloaded).
func (u *User) GroupNames() []string {
	out := make([]string, 0, len(u.Groups))
	for _, g := range u.Groups {
		out = append(out, g.CN)
	}
	sort.Strings(out)
	return out
}

// usersQuery is the user list with groups loaded; every authenticated caller
// may read it (approvals name users and groups).
func usersQuery(db *gorm.DB) *gorm.DB { return db.Model(&User{}).Preload("Groups") }

// UserFilters are the attributes a user list may filter and sort by (attribute -> column).
var UserFilters = map[string]listquery.Field{
	"id": {Column: "id", Kind: listquery.UUID}, "username": {Column: "username"}, "auth_provider": {Column: "auth_provider"},
	"created_at": {Column: "created_at", Kind: listquery.Time}, "updated_at": {Column: "updated_at", Kind: listquery.Time},
}

// UserList is usersQuery as a list source.
func (s *Store) UserList() Source[User] {
	return NewSource[User](s, "id", func(db *gorm.DB) *gorm.DB { return usersQuery(db) })
}

// groupsQuery is the group list.
func groupsQuery(db *gorm.DB) *gorm.DB { return db.Model(&Group{}) }

// GroupFilters are the attributes a group list may filter and sort by (attribute -> column).
var GroupFilters = map[string]listquery.Field{
	"id": {Column: "id", Kind: listquery.UUID}, "cn": {Column: "cn"},
	"created_at": {Column: "created_at", Kind: listquery.Time}, "updated_at": {Column: "updated_at", Kind: listquery.Time},
}

// GroupList is groupsQuery as a list source.
func (s *Store) GroupList() Source[Group] {
	return NewSource[Group](s, "id", func(db *gorm.DB) *gorm.DB { return groupsQuery(db) })
}

// Actor is who performs an operation: an authenticated user or the system.
type Actor struct {
	UserID   string
	Username string
	Groups   []string
	System   bool
	Rules    []authz.Rule // from the policies assigned to the user or its groups
}

// SystemActor is the actor for work Steward does by itself (scheduler, recovery).
var SystemActor = &Actor{Username: "system", System: true}

// Name is the username recorded in created_by and events.
func (a *Actor) Name() string {
	if a == nil {
		return "system"
	}
	return a.Username
}

// IsSystem reports whether the actor is Steward itself.
func (a *Actor) IsSystem() bool { return a == nil || a.System }

// InGroup reports membership of group cn.
func (a *Actor) InGroup(cn string) bool {
	for _, g := range a.Groups {
		if g == cn {
			return true
		}
	}
	return false
}

// AdminPath is the rule path that governs users, groups, every token and
// the server's own surfaces (/metrics).
const AdminPath = "/admin"

// IsAdmin reports whether the actor may administer identities: whether
// its rules let it update /admin.
func (a *Actor) IsAdmin() bool { return a.Can(authz.Update, AdminPath) }

// RequireAdmin returns 403 unless the actor is an administrator.
func (a *Actor) RequireAdmin() error {
	return a.Require(authz.Update, AdminPath)
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$`)

// ValidName checks a username or group name.
func ValidName(pointer, s string) error {
	if !namePattern.MatchString(s) {
		return steward.Invalid(pointer, "invalid_name", "%q must be 1-100 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", s)
	}
	return nil
}

// CreateUser adds a local user and adds it to the named groups, creating
// missing groups. A taken username is a 422 on /data/attributes/username.
func (s *Store) CreateUser(ctx context.Context, actor *Actor, username string, groups []string) (*User, error) {
	if err := actor.RequireAdmin(); err != nil {
		return nil, err
	}
	if err := ValidName("username", username); err != nil {
		return nil, err
	}
	if username == SystemActor.Name() || username == Anonymous.Name() {
		return nil, steward.Invalid("username", "reserved", "%q is the name Steward records its own work under", username)
	}
	groups = dedupe(groups)
	for _, g := range groups {
		if err := ValidName("groupnames", g); err != nil {
			return nil, err
		}
	}
	now := s.Now()
	u := &User{ID: NewID(), Username: username, AuthProvider: "local", CreatedAt: now, UpdatedAt: now}
	err := s.Write(ctx, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&User{}).Where("username = ?", username).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return steward.Invalid("username", "taken", "username %q is already taken", username)
		}
		if err := tx.Omit("Groups").Create(u).Error; err != nil {
			return err
		}
		for _, cn := range groups {
			g, err := s.ensureGroup(tx, cn)
			if err != nil {
				return err
			}
			if err := tx.Exec("INSERT INTO group_members (group_id, user_id) VALUES (?, ?)", g.ID, u.ID).Error; err != nil {
				return err
			}
			u.Groups = append(u.Groups, *g)
		}
		return s.Record(tx, actor, "api:users:create", nil, JSONMap{"user": username})
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

func (s *Store) ensureGroup(tx *gorm.DB, cn string) (*Group, error) {
	var g Group
	err := tx.Where("cn = ?", cn).Take(&g).Error
	if err == nil {
		return &g, nil
	}
	if err != gorm.ErrRecordNotFound {
		return nil, err
	}
	now := s.Now()
	g = Group{ID: NewID(), CN: cn, AlternativeCNs: JSONList{}, CreatedAt: now, UpdatedAt: now}
	return &g, tx.Omit("Users").Create(&g).Error
}

// CreateGroup adds a group; a taken cn is a 422 on /data/attributes/cn.
func (s *Store) CreateGroup(ctx context.Context, actor *Actor, cn string, alternatives []string) (*Group, error) {
	if err := actor.RequireAdmin(); err != nil {
		return nil, err
	}
	if err := ValidName("cn", cn); err != nil {
		return nil, err
	}
	alternatives = dedupe(alternatives)
	for _, alt := range alternatives {
		if alt == "" || len(alt) > 500 {
			return nil, steward.Invalid("alternative_cns", "invalid_name", "alternative cns must be 1-500 characters long")
		}
	}
	now := s.Now()
	g := &Group{ID: NewID(), CN: cn, AlternativeCNs: JSONList(alternatives), CreatedAt: now, UpdatedAt: now}
	err := s.Write(ctx, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&Group{}).Where("cn = ?", cn).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return steward.Invalid("cn", "taken", "group %q already exists", cn)
		}
		if err := tx.Omit("Users").Create(g).Error; err != nil {
			return err
		}
		return s.Record(tx, actor, "api:groups:create", nil, JSONMap{"cn": cn})
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// dedupe drops repeated names, keeping the first occurrence; never nil.
func dedupe(names []string) []string {
	out := make([]string, 0, len(names))
	seen := map[string]bool{}
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// UserByName loads a user with its groups.
func (s *Store) UserByName(ctx context.Context, username string) (*User, error) {
	var u User
	err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Preload("Groups").Where("username = ?", username).Take(&u).Error
	})
	if ModelNotFound(err) {
		return nil, steward.NotFound("user", username)
	}
	return &u, err
}

// ModelNotFound reports whether err is a not-found error.
func ModelNotFound(err error) bool {
	return err != nil && steward.ErrorKind(err) == steward.KindNotFound
}
