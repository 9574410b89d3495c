package model

import (
	"context"
	"regexp"
	"strings"
	"time"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/authz"
	"github.com/stewardhq/steward/pkg/listquery"
)

// AuthorisationRule grants or denies reading, updating and executing at a
// path and below it. The reference has no "deletable": deleting (and
// archiving) is an update, so updatable decides it.
type AuthorisationRule struct {
	ID         string `gorm:"primaryKey"`
	Name       *string
	Path       string
	Readable   bool
	Updatable  bool
	Executable bool
	System     bool
	CreatedBy  string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	PolicyIDs  []string `gorm:"-"` // the policies holding it, for rendering
}

// AuthorisationPolicy groups rules; assignments give them to users and groups.
type AuthorisationPolicy struct {
	ID          string `gorm:"primaryKey"`
	Name        string
	Description *string
	System      bool
	CreatedBy   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Links       []PolicyRule       `gorm:"foreignKey:PolicyID"`
	Assignments []PolicyAssignment `gorm:"foreignKey:PolicyID"`
}

// TableName keeps the reference's plural.
func (AuthorisationPolicy) TableName() string { return "authorisation_policies" }

// PolicyRule links a rule into a policy.
type PolicyRule struct {
	ID        string `gorm:"primaryKey"`
	PolicyID  string
	RuleID    string
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// PolicyAssignment gives a policy to a user or a group (one of the two).
type PolicyAssignment struct {
	ID        string `gorm:"primaryKey"`
	PolicyID  string
	Username  *string
	Groupname *string
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// PoliciesPath is the rule path that governs rules, policies and
// assignments. Only a rule naming it grants anything there (see
// authz.ExplicitOnly).
const PoliciesPath = "/authorisation_policies"

// SuperuserPolicy is the system policy the bootstrap admin group holds.
const SuperuserPolicy = "superuser"

// AsAuthz is the rule as the decision package reads it.
func (r *AuthorisationRule) AsAuthz() authz.Rule {
	name := ""
	if r.Name != nil {
		name = *r.Name
	}
	return authz.Rule{ID: r.ID, Name: name, Path: r.Path, Readable: r.Readable, Updatable: r.Updatable,
		Executable: r.Executable, Deletable: r.Updatable}
}

// RenderedPath is the path as the reference shows it: anchored with ^.
func (r *AuthorisationRule) RenderedPath() string { return "^" + r.Path }

// ruleNamePattern is what may follow /actions/ or /workflows/ in a rule path.
var ruleNamePattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

// NormaliseRulePath accepts a node path or sub-path as the reference writes
// them: an optional leading ^ (rules anchor at the start; they are paths,
// never patterns), no trailing slash; "" and "^" mean everything ("/").
func NormaliseRulePath(p string) (string, error) {
	p = strings.TrimPrefix(strings.TrimSpace(p), "^")
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	if p == "" {
		p = "/"
	}
	if err := authz.ValidatePath(p, ruleNamePattern.MatchString); err != nil {
		return "", steward.Invalid("path", "invalid_path", "%v", err)
	}
	return p, nil
}

// RuleAttributes are a rule's writable attributes.
type RuleAttributes struct {
	Name                            *string
	Path                            string
	Readable, Updatable, Executable bool
}

func (a *RuleAttributes) record(actor *Actor, now time.Time) (*AuthorisationRule, error) {
	path, err := NormaliseRulePath(a.Path)
	if err != nil {
		return nil, err
	}
	if a.Name != nil && len(*a.Name) > 200 {
		return nil, steward.Invalid("name", "too_long", "name must be at most 200 characters")
	}
	return &AuthorisationRule{ID: NewID(), Name: a.Name, Path: path, Readable: a.Readable, Updatable: a.Updatable,
		Executable: a.Executable, CreatedBy: actor.Name(), CreatedAt: now, UpdatedAt: now}, nil
}

// RuleFilters are the attributes a rule list may filter and sort by.
var RuleFilters = map[string]listquery.Field{
	"id": {Column: "id", Kind: listquery.UUID}, "name": {Column: "name"}, "path": {Column: "path"},
	"readable": {Column: "readable", Kind: listquery.Bool}, "updatable": {Column: "updatable", Kind: listquery.Bool},
	"executable": {Column: "executable", Kind: listquery.Bool}, "system": {Column: "system", Kind: listquery.Bool},
	"created_by": {Column: "created_by"}, "created_at": {Column: "created_at", Kind: listquery.Time},
	"updated_at": {Column: "updated_at", Kind: listquery.Time},
}

// PolicyFilters are the attributes a policy list may filter and sort by.
var PolicyFilters = map[string]listquery.Field{
	"id": {Column: "id", Kind: listquery.UUID}, "name": {Column: "name"}, "description": {Column: "description"},
	"system": {Column: "system", Kind: listquery.Bool}, "created_by": {Column: "created_by"},
	"created_at": {Column: "created_at", Kind: listquery.Time}, "updated_at": {Column: "updated_at", Kind: listquery.Time},
}

// AssignmentFilters are the attributes an assignment list may filter and sort by.
var AssignmentFilters = map[string]listquery.Field{
	"id": {Column: "id", Kind: listquery.UUID}, "username": {Column: "username"}, "groupname": {Column: "groupname"},
	"created_by": {Column: "created_by"}, "created_at": {Column: "created_at", Kind: listquery.Time},
}

// PolicyRuleFilters are the attributes a policy's rule links may filter by.
var PolicyRuleFilters = map[string]listquery.Field{
	"id": {Column: "id", Kind: listquery.UUID}, "authorisation_rule_id": {Column: "rule_id", Kind: listquery.UUID},
	"created_by": {Column: "created_by"}, "created_at": {Column: "created_at", Kind: listquery.Time},
}

// Every rule, policy and assignment operation needs read (update, for
// writes) on PoliciesPath, which only a rule naming it grants.

// RuleList is every rule, for a caller who may read policies.
func (s *Store) RuleList(ctx context.Context) (Source[AuthorisationRule], error) {
	return NewSource[AuthorisationRule](s, "id", func(db *gorm.DB) *gorm.DB { return db.Model(&AuthorisationRule{}) }),
		ActorOf(ctx).Require(authz.Read, PoliciesPath)
}

// PolicyList is every policy, for a caller who may read policies.
func (s *Store) PolicyList(ctx context.Context) (Source[AuthorisationPolicy], error) {
	return NewSource[AuthorisationPolicy](s, "id", func(db *gorm.DB) *gorm.DB {
		return db.Model(&AuthorisationPolicy{}).Preload("Links").Preload("Assignments")
	}), ActorOf(ctx).Require(authz.Read, PoliciesPath)
}

// AssignmentList is a policy's assignments.
func (s *Store) AssignmentList(ctx context.Context, policyID string) (Source[PolicyAssignment], error) {
	p, err := s.PolicyByID(ctx, policyID)
	if err != nil {
		return Source[PolicyAssignment]{}, err
	}
	return NewSource[PolicyAssignment](s, "id", func(db *gorm.DB) *gorm.DB {
		return db.Model(&PolicyAssignment{}).Where("policy_id = ?", p.ID)
	}), nil
}

// PolicyRuleList is a policy's rule links.
func (s *Store) PolicyRuleList(ctx context.Context, policyID string) (Source[PolicyRule], error) {
	p, err := s.PolicyByID(ctx, policyID)
	if err != nil {
		return Source[PolicyRule]{}, err
	}
	return NewSource[PolicyRule](s, "id", func(db *gorm.DB) *gorm.DB {
		return db.Model(&PolicyRule{}).Where("policy_id = ?", p.ID)
	}), nil
}

// RuleByID loads a rule with the ids of the policies holding it.
func (s *Store) RuleByID(ctx context.Context, id string) (*AuthorisationRule, error) {
	if err := ActorOf(ctx).Require(authz.Read, PoliciesPath); err != nil {
		return nil, err
	}
	return s.ruleByID(s.DB.WithContext(ctx), id)
}

func (s *Store) ruleByID(db *gorm.DB, id string) (*AuthorisationRule, error) {
	id, ok := steward.ParseID(id)
	var r AuthorisationRule
	if !ok || ModelNotFound(TranslateError(db.Where("id = ?", id).Take(&r).Error)) {
		return nil, steward.NotFound("authorisation rule", id)
	}
	if err := db.Model(&PolicyRule{}).Where("rule_id = ?", r.ID).Order("policy_id").Pluck("policy_id", &r.PolicyIDs).Error; err != nil {
		return nil, TranslateError(err)
	}
	return &r, nil
}

// RulePolicies maps each rule to the policies holding it.
func (s *Store) RulePolicies(ctx context.Context, rules []*AuthorisationRule) error {
	ids := make([]string, len(rules))
	for i := range rules {
		ids[i] = rules[i].ID
	}
	var links []PolicyRule
	if err := s.DB.WithContext(ctx).Where("rule_id IN ?", ids).Order("policy_id").Find(&links).Error; err != nil {
		return TranslateError(err)
	}
	by := map[string][]string{}
	for _, l := range links {
		by[l.RuleID] = append(by[l.RuleID], l.PolicyID)
	}
	for i := range rules {
		rules[i].PolicyIDs = by[rules[i].ID]
	}
	return nil
}

// PolicyByID loads a policy with its rule links and assignments.
func (s *Store) PolicyByID(ctx context.Context, id string) (*AuthorisationPolicy, error) {
	if err := ActorOf(ctx).Require(authz.Read, PoliciesPath); err != nil {
		return nil, err
	}
	return s.policyByID(s.DB.WithContext(ctx), id)
}

func (s *Store) policyByID(db *gorm.DB, id string) (*AuthorisationPolicy, error) {
	id, ok := steward.ParseID(id)
	var p AuthorisationPolicy
	if !ok || ModelNotFound(TranslateError(db.Preload("Links").Preload("Assignments").Where("id = ?", id).Take(&p).Error)) {
		return nil, steward.NotFound("authorisation policy", id)
	}
	return &p, nil
}

// rulesOf loads the rules of every policy assigned to the actor's user or
// one of its groups: one query, made when a token is checked.
func (s *Store) rulesOf(ctx context.Context, a *Actor) ([]authz.Rule, error) {
	db := s.DB.WithContext(ctx)
	holders := db.Model(&PolicyAssignment{}).Select("policy_id").Where("username = ?", a.Username)
	if len(a.Groups) > 0 {
		holders = holders.Or("groupname IN ?", a.Groups)
	}
	var rows []AuthorisationRule
	err := db.Where("id IN (?)", db.Model(&PolicyRule{}).Select("rule_id").Where("policy_id IN (?)", holders)).
		Order("id").Find(&rows).Error
	if err != nil {
		return nil, TranslateError(err)
	}
	out := make([]authz.Rule, len(rows))
	for i := range rows {
		out[i] = rows[i].AsAuthz()
	}
	return out, nil
}
