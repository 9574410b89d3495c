package model

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/authz"
)

// Changes to rules, policies and assignments. Each is one transaction with
// its event, and empties the token cache so the next request of every
// token in this process decides with the new rules.

func (s *Store) writePolicies(ctx context.Context, actor *Actor, fn func(tx *gorm.DB) error) error {
	if err := actor.Require(authz.Update, PoliciesPath); err != nil {
		return err
	}
	err := s.Write(ctx, fn)
	if err == nil && s.tokens != nil {
		s.tokens.clear()
	}
	return err
}

func ruleSource(r *AuthorisationRule) *EventSource {
	return &EventSource{Type: "authorisation_rule", ID: r.ID, Path: "/authorisation_rules/" + r.ID}
}

func policySource(p *AuthorisationPolicy) *EventSource {
	return &EventSource{Type: "authorisation_policy", ID: p.ID, Path: "/authorisation_policies/" + p.ID}
}

func ruleEventAttrs(r *AuthorisationRule) JSONMap {
	return JSONMap{"path": r.Path, "readable": r.Readable, "updatable": r.Updatable, "executable": r.Executable, "name": r.Name}
}

// CreateRule adds a rule (in no policy yet).
func (s *Store) CreateRule(ctx context.Context, actor *Actor, attrs RuleAttributes) (*AuthorisationRule, error) {
	r, err := attrs.record(actor, s.Now())
	if err != nil {
		return nil, err
	}
	err = s.writePolicies(ctx, actor, func(tx *gorm.DB) error {
		if err := tx.Create(r).Error; err != nil {
			return err
		}
		return s.Record(tx, actor, "api:authorisation_rules:create", ruleSource(r), ruleEventAttrs(r))
	})
	return r, err
}

// UpdateRule replaces a rule's attributes (the reference's PATCH sends them
// all). System rules cannot change.
func (s *Store) UpdateRule(ctx context.Context, actor *Actor, id string, attrs RuleAttributes) (*AuthorisationRule, error) {
	next, err := attrs.record(actor, s.Now())
	if err != nil {
		return nil, err
	}
	var r *AuthorisationRule
	err = s.writePolicies(ctx, actor, func(tx *gorm.DB) error {
		if r, err = s.ruleByID(tx, id); err != nil {
			return err
		}
		if r.System {
			return steward.Invalid("", "system_rule", "rule %s is Steward's own and cannot change", r.ID)
		}
		r.Name, r.Path, r.Readable, r.Updatable, r.Executable, r.UpdatedAt = next.Name, next.Path, next.Readable, next.Updatable, next.Executable, next.UpdatedAt
		if err := tx.Select("name", "path", "readable", "updatable", "executable", "updated_at").Updates(r).Error; err != nil {
			return err
		}
		return s.Record(tx, actor, "api:authorisation_rules:update", ruleSource(r), ruleEventAttrs(r))
	})
	return r, err
}

// DeleteRule removes a rule from every policy and deletes it.
func (s *Store) DeleteRule(ctx context.Context, actor *Actor, id string) error {
	return s.writePolicies(ctx, actor, func(tx *gorm.DB) error {
		r, err := s.ruleByID(tx, id)
		if err != nil {
			return err
		}
		if r.System {
			return steward.Invalid("", "system_rule", "rule %s is Steward's own and cannot be deleted", r.ID)
		}
		if err := tx.Where("rule_id = ?", r.ID).Delete(&PolicyRule{}).Error; err != nil {
			return err
		}
		if err := tx.Delete(r).Error; err != nil {
			return err
		}
		return s.Record(tx, actor, "api:authorisation_rules:delete", ruleSource(r), ruleEventAttrs(r))
	})
}

// PolicyAttributes are a policy's writable attributes. Rules, when given,
// are created and become the policy's rules (on update: replacing them, as
// the reference says: no rules given, none kept).
type PolicyAttributes struct {
	Name        string
	Description *string
	Rules       []RuleAttributes
}

func (a *PolicyAttributes) validate() error {
	if err := validateName(a.Name); err != nil {
		return err
	}
	return validateDescription(a.Description)
}

// newRules validates the inline rules, each error pointing at its index.
func (a *PolicyAttributes) newRules(actor *Actor, s *Store) ([]*AuthorisationRule, error) {
	out := make([]*AuthorisationRule, len(a.Rules))
	for i := range a.Rules {
		r, err := a.Rules[i].record(actor, s.Now())
		if err != nil {
			if e, ok := err.(*steward.Error); ok {
				e.Field = fmt.Sprintf("authorisation_rules/%d/%s", i, e.Field)
			}
			return nil, err
		}
		out[i] = r
	}
	return out, nil
}

func (s *Store) linkRules(tx *gorm.DB, actor *Actor, p *AuthorisationPolicy, rules []*AuthorisationRule, create bool) error {
	for _, r := range rules {
		if create {
			if err := tx.Create(r).Error; err != nil {
				return err
			}
		}
		now := s.Now()
		if err := tx.Create(&PolicyRule{ID: NewID(), PolicyID: p.ID, RuleID: r.ID, CreatedBy: actor.Name(), CreatedAt: now, UpdatedAt: now}).Error; err != nil {
			return err
		}
	}
	return nil
}

// CreatePolicy adds a policy with its inline rules. Names are unique.
func (s *Store) CreatePolicy(ctx context.Context, actor *Actor, attrs PolicyAttributes) (*AuthorisationPolicy, error) {
	if err := attrs.validate(); err != nil {
		return nil, err
	}
	rules, err := attrs.newRules(actor, s)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	p := &AuthorisationPolicy{ID: NewID(), Name: attrs.Name, Description: attrs.Description, CreatedBy: actor.Name(), CreatedAt: now, UpdatedAt: now}
	err = s.writePolicies(ctx, actor, func(tx *gorm.DB) error {
		if err := s.policyNameFree(tx, p.Name, ""); err != nil {
			return err
		}
		if err := tx.Omit("Links", "Assignments").Create(p).Error; err != nil {
			return err
		}
		if err := s.linkRules(tx, actor, p, rules, true); err != nil {
			return err
		}
		return s.Record(tx, actor, "api:authorisation_policies:create", policySource(p), JSONMap{"name": p.Name, "rules": len(rules)})
	})
	if err != nil {
		return nil, err
	}
	return s.policyByID(s.DB.WithContext(ctx), p.ID)
}

func (s *Store) policyNameFree(tx *gorm.DB, name, except string) error {
	var n int64
	q := tx.Model(&AuthorisationPolicy{}).Where("name = ?", name)
	if except != "" {
		q = q.Where("id <> ?", except)
	}
	if err := q.Count(&n).Error; err != nil {
		return err
	}
	if n > 0 {
		return steward.Invalid("name", "taken", "a policy named %q exists", name)
	}
	return nil
}

// UpdatePolicy renames a policy and replaces its rules with the inline ones.
// The superuser policy keeps its rules.
func (s *Store) UpdatePolicy(ctx context.Context, actor *Actor, id string, attrs PolicyAttributes) (*AuthorisationPolicy, error) {
	if err := attrs.validate(); err != nil {
		return nil, err
	}
	rules, err := attrs.newRules(actor, s)
	if err != nil {
		return nil, err
	}
	var p *AuthorisationPolicy
	err = s.writePolicies(ctx, actor, func(tx *gorm.DB) error {
		if p, err = s.policyByID(tx, id); err != nil {
			return err
		}
		if p.System {
			return steward.Invalid("", "system_policy", "policy %q is Steward's own: assign it, but it cannot change", p.Name)
		}
		if err := s.policyNameFree(tx, attrs.Name, p.ID); err != nil {
			return err
		}
		p.Name, p.Description, p.UpdatedAt = attrs.Name, attrs.Description, s.Now()
		if err := tx.Model(p).Select("name", "description", "updated_at").Updates(p).Error; err != nil {
			return err
		}
		if err := tx.Where("policy_id = ?", p.ID).Delete(&PolicyRule{}).Error; err != nil {
			return err
		}
		if err := s.linkRules(tx, actor, p, rules, true); err != nil {
			return err
		}
		return s.Record(tx, actor, "api:authorisation_policies:update", policySource(p), JSONMap{"name": p.Name, "rules": len(rules)})
	})
	if err != nil {
		return nil, err
	}
	return s.policyByID(s.DB.WithContext(ctx), p.ID)
}

// DeletePolicy deletes a policy with its links and assignments (its rules
// stay). The superuser policy cannot be deleted.
func (s *Store) DeletePolicy(ctx context.Context, actor *Actor, id string) error {
	return s.writePolicies(ctx, actor, func(tx *gorm.DB) error {
		p, err := s.policyByID(tx, id)
		if err != nil {
			return err
		}
		if p.System {
			return steward.Invalid("", "system_policy", "policy %q is Steward's own and cannot be deleted", p.Name)
		}
		for _, m := range []any{&PolicyRule{}, &PolicyAssignment{}} {
			if err := tx.Where("policy_id = ?", p.ID).Delete(m).Error; err != nil {
				return err
			}
		}
		if err := tx.Select("Links", "Assignments").Delete(&AuthorisationPolicy{ID: p.ID}).Error; err != nil {
			return err
		}
		return s.Record(tx, actor, "api:authorisation_policies:delete", policySource(p), JSONMap{"name": p.Name})
	})
}

// AddPolicyRules links existing rules into a policy; a rule already in it
// is left as it is. Unknown rule ids are a 422 naming the id.
func (s *Store) AddPolicyRules(ctx context.Context, actor *Actor, policyID string, ruleIDs []string) ([]PolicyRule, error) {
	if len(ruleIDs) == 0 {
		return nil, steward.Invalid("authorisation_rule_id", "blank", "name at least one rule")
	}
	var out []PolicyRule
	err := s.writePolicies(ctx, actor, func(tx *gorm.DB) error {
		p, err := s.policyByID(tx, policyID)
		if err != nil {
			return err
		}
		if p.System {
			return steward.Invalid("", "system_policy", "policy %q is Steward's own: its rules cannot change", p.Name)
		}
		have := map[string]bool{}
		for _, l := range p.Links {
			have[l.RuleID] = true
		}
		for _, id := range ruleIDs {
			r, err := s.ruleByID(tx, id)
			if err != nil {
				return steward.Invalid("authorisation_rule_id", "unknown_rule", "no authorisation rule has id %s", steward.Echo(id))
			}
			if have[r.ID] {
				continue
			}
			have[r.ID] = true
			now := s.Now()
			l := PolicyRule{ID: NewID(), PolicyID: p.ID, RuleID: r.ID, CreatedBy: actor.Name(), CreatedAt: now, UpdatedAt: now}
			if err := tx.Create(&l).Error; err != nil {
				return err
			}
			out = append(out, l)
		}
		return s.Record(tx, actor, "api:policy_rules:create", policySource(p), JSONMap{"authorisation_rule_ids": ruleIDs})
	})
	return out, err
}

// RemovePolicyRule unlinks one rule from a policy (the rule stays).
func (s *Store) RemovePolicyRule(ctx context.Context, actor *Actor, policyID, linkID string) error {
	return s.writePolicies(ctx, actor, func(tx *gorm.DB) error {
		p, err := s.policyByID(tx, policyID)
		if err != nil {
			return err
		}
		id, _ := steward.ParseID(linkID)
		for _, l := range p.Links {
			if l.ID != id {
				continue
			}
			if p.System {
				return steward.Invalid("", "system_policy", "policy %q is Steward's own: its rules cannot change", p.Name)
			}
			if err := tx.Delete(&l).Error; err != nil {
				return err
			}
			return s.Record(tx, actor, "api:policy_rules:delete", policySource(p), JSONMap{"authorisation_rule_id": l.RuleID})
		}
		return steward.NotFound("policy rule", linkID)
	})
}

// Assignee is one user or group a policy is given to.
type Assignee struct{ Username, Groupname *string }

// ReplaceAssignments makes the given users and groups the policy's holders
// (the reference's POST replaces them). Each must exist. The superuser
// policy must keep at least one user.
func (s *Store) ReplaceAssignments(ctx context.Context, actor *Actor, policyID string, to []Assignee) ([]PolicyAssignment, error) {
	var out []PolicyAssignment
	err := s.writePolicies(ctx, actor, func(tx *gorm.DB) error {
		p, err := s.policyByID(tx, policyID)
		if err != nil {
			return err
		}
		var users, groups []string
		for i, a := range to {
			field := fmt.Sprintf("assignments/%d", i)
			switch {
			case (a.Username == nil) == (a.Groupname == nil):
				return steward.Invalid(field, "invalid_assignment", "an assignment names a username or a groupname (one of the two)")
			case a.Username != nil:
				if n, err := count(tx.Model(&User{}).Where("username = ?", *a.Username)); err != nil || n == 0 {
					return orInvalid(err, field+"/username", "unknown_user", "no user is named %q", *a.Username)
				}
				users = append(users, *a.Username)
			default:
				if n, err := count(tx.Model(&Group{}).Where("cn = ?", *a.Groupname)); err != nil || n == 0 {
					return orInvalid(err, field+"/groupname", "unknown_group", "no group is named %q", *a.Groupname)
				}
				groups = append(groups, *a.Groupname)
			}
		}
		if p.System {
			q := tx.Model(&User{}).Where("username IN ?", append(users, ""))
			if len(groups) > 0 {
				q = q.Or("id IN (?)", tx.Table("group_members").Select("user_id").Where("group_id IN (?)", tx.Model(&Group{}).Select("id").Where("cn IN ?", groups)))
			}
			if n, err := count(q); err != nil || n == 0 {
				return orInvalid(err, "assignments", "last_superuser", "policy %q must stay with at least one user: it is how Steward is administered", p.Name)
			}
		}
		if err := tx.Where("policy_id = ?", p.ID).Delete(&PolicyAssignment{}).Error; err != nil {
			return err
		}
		for _, a := range to {
			now := s.Now()
			row := PolicyAssignment{ID: NewID(), PolicyID: p.ID, Username: a.Username, Groupname: a.Groupname, CreatedBy: actor.Name(), CreatedAt: now, UpdatedAt: now}
			if err := tx.Create(&row).Error; err != nil {
				return err
			}
			out = append(out, row)
		}
		return s.Record(tx, actor, "api:policy_assignments:update", policySource(p), JSONMap{"usernames": users, "groupnames": groups})
	})
	return out, err
}

func count(q *gorm.DB) (int64, error) {
	var n int64
	return n, q.Count(&n).Error
}

func orInvalid(err error, field, code, format string, args ...any) error {
	if err != nil {
		return err
	}
	return steward.Invalid(field, code, format, args...)
}

// EnsureSuperuser creates the superuser policy when missing: rules that
// grant everything at "/" and at /authorisation_policies, assigned to the
// admin group the bootstrap admin belongs to.
func (s *Store) EnsureSuperuser(ctx context.Context) error {
	return s.Write(ctx, func(tx *gorm.DB) error {
		if n, err := count(tx.Model(&AuthorisationPolicy{}).Where("system AND name = ?", SuperuserPolicy)); err != nil || n > 0 {
			return err
		}
		now := s.Now()
		desc := "Everything, everywhere: held by the admin group"
		p := &AuthorisationPolicy{ID: NewID(), Name: SuperuserPolicy, Description: &desc, System: true, CreatedBy: "system", CreatedAt: now, UpdatedAt: now}
		if err := tx.Omit("Links", "Assignments").Create(p).Error; err != nil {
			return err
		}
		var rules []*AuthorisationRule
		for _, path := range []string{"/", PoliciesPath} {
			name := "superuser " + path
			rules = append(rules, &AuthorisationRule{ID: NewID(), Name: &name, Path: path, Readable: true, Updatable: true, Executable: true,
				System: true, CreatedBy: "system", CreatedAt: now, UpdatedAt: now})
		}
		if err := s.linkRules(tx, SystemActor, p, rules, true); err != nil {
			return err
		}
		group := AdminGroup
		return tx.Create(&PolicyAssignment{ID: NewID(), PolicyID: p.ID, Groupname: &group, CreatedBy: "system", CreatedAt: now, UpdatedAt: now}).Error
	})
}
