package handler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/gorilla/mux"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

// The authorisation endpoints: rules, policies, a policy's rule links and
// its assignments. Who may use them is decided in the model
// (/authorisation_policies).

var (
	ruleListSpec       = &jsonapi.Spec{List: true, Keyset: "id", Filters: model.RuleFilters}
	policyListSpec     = &jsonapi.Spec{List: true, Keyset: "id", Filters: model.PolicyFilters}
	assignmentListSpec = &jsonapi.Spec{List: true, Keyset: "id", Filters: model.AssignmentFilters}
	policyRuleListSpec = &jsonapi.Spec{List: true, Keyset: "id", Filters: model.PolicyRuleFilters}
	ruleBodyKeys       = []string{"name", "path", "readable", "updatable", "executable"}
)

func (a *API) routeAuthorisation(r *mux.Router) {
	const rules, policies = "/api/authorisation_rules", "/api/authorisation_policies"
	r.HandleFunc(rules, a.handle(a.listRules)).Methods(http.MethodGet)
	r.HandleFunc(rules, a.handle(a.createRule)).Methods(http.MethodPost)
	r.HandleFunc(rules+"/{authorisation_rule_id}", a.handle(a.showRule)).Methods(http.MethodGet)
	r.HandleFunc(rules+"/{authorisation_rule_id}", a.handle(a.updateRule)).Methods(http.MethodPatch)
	r.HandleFunc(rules+"/{authorisation_rule_id}", a.handle(a.deleteRule)).Methods(http.MethodDelete)
	r.HandleFunc(policies, a.handle(a.listPolicies)).Methods(http.MethodGet)
	r.HandleFunc(policies, a.handle(a.createPolicy)).Methods(http.MethodPost)
	r.HandleFunc(policies+"/{authorisation_policy_id}", a.handle(a.showPolicy)).Methods(http.MethodGet)
	r.HandleFunc(policies+"/{authorisation_policy_id}", a.handle(a.updatePolicy)).Methods(http.MethodPatch)
	r.HandleFunc(policies+"/{authorisation_policy_id}", a.handle(a.deletePolicy)).Methods(http.MethodDelete)
	r.HandleFunc(policies+"/{authorisation_policy_id}/rules", a.handle(a.listPolicyRules)).Methods(http.MethodGet)
	r.HandleFunc(policies+"/{authorisation_policy_id}/rules", a.handle(a.addPolicyRules)).Methods(http.MethodPost)
	r.HandleFunc(policies+"/{authorisation_policy_id}/rules/{policy_rule_id}", a.handle(a.removePolicyRule)).Methods(http.MethodDelete)
	r.HandleFunc(policies+"/{authorisation_policy_id}/assignments", a.handle(a.listAssignments)).Methods(http.MethodGet)
	r.HandleFunc(policies+"/{authorisation_policy_id}/assignments", a.handle(a.replaceAssignments)).Methods(http.MethodPost)
}

type ruleAttributes struct {
	Name       *string `json:"name"`
	Path       string  `json:"path"`
	Readable   bool    `json:"readable"`
	Updatable  bool    `json:"updatable"`
	Executable bool    `json:"executable"`
	CreatedBy  string  `json:"created_by"`
	System     bool    `json:"system"`
	CreatedAt  string  `json:"created_at"`
	UpdatedAt  string  `json:"updated_at"`
}

func ruleResource(r *model.AuthorisationRule) *jsonapi.Resource {
	policies := make([]jsonapi.Identifier, len(r.PolicyIDs))
	for i, id := range r.PolicyIDs {
		policies[i] = jsonapi.Identifier{Type: "authorisation_policy", ID: id}
	}
	return &jsonapi.Resource{Type: "authorisation_rule", ID: r.ID,
		Attributes: &ruleAttributes{Name: r.Name, Path: r.RenderedPath(), Readable: r.Readable, Updatable: r.Updatable,
			Executable: r.Executable, CreatedBy: r.CreatedBy, System: r.System,
			CreatedAt: jsonapi.Timestamp(r.CreatedAt), UpdatedAt: jsonapi.Timestamp(r.UpdatedAt)},
		Relationships: map[string]*jsonapi.Relationship{"authorisation_policies": jsonapi.ToMany(policies)},
		Links:         map[string]string{"self": "/api/authorisation_rules/" + r.ID},
	}
}

type policyAttributes struct {
	Name        string  `json:"name"`
	Description *string `json:"description"`
	System      bool    `json:"system"`
	CreatedBy   string  `json:"created_by"`
	CreatedAt   string  `json:"created_at"`
	UpdatedAt   string  `json:"updated_at"`
}

func policyResource(p *model.AuthorisationPolicy) *jsonapi.Resource {
	self := "/api/authorisation_policies/" + p.ID
	links := make([]jsonapi.Identifier, len(p.Links))
	rules := make([]jsonapi.Identifier, len(p.Links))
	for i, l := range p.Links {
		links[i] = jsonapi.Identifier{Type: "policy_rule", ID: l.ID}
		rules[i] = jsonapi.Identifier{Type: "authorisation_rule", ID: l.RuleID}
	}
	assigned := make([]jsonapi.Identifier, len(p.Assignments))
	for i, as := range p.Assignments {
		assigned[i] = jsonapi.Identifier{Type: "policy_assignment", ID: as.ID}
	}
	return &jsonapi.Resource{Type: "authorisation_policy", ID: p.ID,
		Attributes: &policyAttributes{Name: p.Name, Description: p.Description, System: p.System, CreatedBy: p.CreatedBy,
			CreatedAt: jsonapi.Timestamp(p.CreatedAt), UpdatedAt: jsonapi.Timestamp(p.UpdatedAt)},
		Relationships: map[string]*jsonapi.Relationship{"policy_rules": jsonapi.ToMany(links),
			"policy_assignments": jsonapi.ToMany(assigned), "authorisation_rules": jsonapi.ToMany(rules)},
		Links: map[string]string{"self": self, "policy_rules": self + "/rules", "policy_assignments": self + "/assignments"},
	}
}

type policyRuleAttributes struct {
	ID        string `json:"id"`
	CreatedBy string `json:"created_by"`
	PolicyID  string `json:"authorisation_policy_id"`
	RuleID    string `json:"authorisation_rule_id"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

func policyRuleResource(l *model.PolicyRule) *jsonapi.Resource {
	return &jsonapi.Resource{Type: "policy_rule", ID: l.ID,
		Attributes: &policyRuleAttributes{ID: l.ID, CreatedBy: l.CreatedBy, PolicyID: l.PolicyID, RuleID: l.RuleID,
			CreatedAt: jsonapi.Timestamp(l.CreatedAt), UpdatedAt: jsonapi.Timestamp(l.UpdatedAt)},
		Links: map[string]string{"self": "/api/authorisation_policies/" + l.PolicyID + "/rules/" + l.ID},
	}
}

type assignmentAttributes struct {
	Username  *string `json:"username"`
	Groupname *string `json:"groupname"`
	CreatedBy string  `json:"created_by"`
	CreatedAt string  `json:"created_at"`
	UpdatedAt string  `json:"updated_at"`
}

func assignmentResource(as *model.PolicyAssignment) *jsonapi.Resource {
	return &jsonapi.Resource{Type: "policy_assignment", ID: as.ID,
		Attributes: &assignmentAttributes{Username: as.Username, Groupname: as.Groupname, CreatedBy: as.CreatedBy,
			CreatedAt: jsonapi.Timestamp(as.CreatedAt), UpdatedAt: jsonapi.Timestamp(as.UpdatedAt)},
		// Assignments have no URL of their own: they are replaced as a set.
		Links: map[string]string{"self": "/api/authorisation_policies/" + as.PolicyID + "/assignments"},
	}
}

func (a *API) listRules(w http.ResponseWriter, r *http.Request) error {
	q, err := jsonapi.ParseQuery(r, ruleListSpec)
	if err != nil {
		return err
	}
	src, err := a.Store.RuleList(r.Context())
	if err != nil {
		return err
	}
	l, written, err := listPage(a, w, r, q, src, []string{"name", "path", "readable", "updatable", "executable", "system", "created_by", "created_at"},
		ruleResource, func(v *API, rows []*model.AuthorisationRule) ([]*jsonapi.Resource, []*jsonapi.Resource, error) {
			if err := v.Store.RulePolicies(r.Context(), rows); err != nil {
				return nil, nil, err
			}
			out := make([]*jsonapi.Resource, len(rows))
			for i, row := range rows {
				out[i] = ruleResource(row)
			}
			return out, nil, nil
		})
	if written || err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, l.document(r, q, false), q)
	return nil
}

// ruleBody reads a rule's attributes from a JSON object (a request's
// attributes, or one entry of a policy's authorisation_rules), every key
// checked; at prefixes the pointer of an entry.
func ruleBody(raw map[string]json.RawMessage, at string) (model.RuleAttributes, error) {
	var out model.RuleAttributes
	for k := range raw {
		if !slices.Contains(ruleBodyKeys, k) {
			return out, steward.Invalid(at+k, "unknown_attribute", "a rule has no attribute %q; it has %v", steward.Echo(k), ruleBodyKeys)
		}
	}
	if _, ok := raw["path"]; !ok {
		return out, steward.Invalid(at+"path", "required", "path is required")
	}
	if err := json.Unmarshal(raw["path"], &out.Path); err != nil {
		return out, steward.Invalid(at+"path", "invalid_type", "path must be text")
	}
	for k, dst := range map[string]*bool{"readable": &out.Readable, "updatable": &out.Updatable, "executable": &out.Executable} {
		if v, ok := raw[k]; ok && json.Unmarshal(v, dst) != nil {
			return out, steward.Invalid(at+k, "invalid_type", "%s must be true or false", k)
		}
	}
	if v, ok := raw["name"]; ok && string(v) != "null" {
		var name string
		if json.Unmarshal(v, &name) != nil {
			return out, steward.Invalid(at+"name", "invalid_type", "name must be text")
		}
		out.Name = &name
	}
	return out, nil
}

func (a *API) readRuleBody(r *http.Request) (model.RuleAttributes, error) {
	if _, err := jsonapi.ParseQuery(r, plainSpec); err != nil {
		return model.RuleAttributes{}, err
	}
	body, err := jsonapi.DecodeBody(r, "authorisation_rule", ruleBodyKeys)
	if err != nil {
		return model.RuleAttributes{}, err
	}
	return ruleBody(body.Attributes(), "")
}

func (a *API) createRule(w http.ResponseWriter, r *http.Request) error {
	in, err := a.readRuleBody(r)
	if err != nil {
		return err
	}
	rule, err := a.Store.CreateRule(r.Context(), actorOf(r), in)
	if err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusCreated, jsonapi.Document{Data: ruleResource(rule)}, nil)
	return nil
}

func (a *API) showRule(w http.ResponseWriter, r *http.Request) error {
	q, err := jsonapi.ParseQuery(r, plainSpec)
	if err != nil {
		return err
	}
	rule, err := a.Store.RuleByID(r.Context(), mux.Vars(r)["authorisation_rule_id"])
	if err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: ruleResource(rule)}, q)
	return nil
}

func (a *API) updateRule(w http.ResponseWriter, r *http.Request) error {
	in, err := a.readRuleBody(r)
	if err != nil {
		return err
	}
	rule, err := a.Store.UpdateRule(r.Context(), actorOf(r), mux.Vars(r)["authorisation_rule_id"], in)
	if err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: ruleResource(rule)}, nil)
	return nil
}

func (a *API) deleteRule(w http.ResponseWriter, r *http.Request) error {
	if _, err := jsonapi.ParseQuery(r, plainSpec); err != nil {
		return err
	}
	if err := a.Store.DeleteRule(r.Context(), actorOf(r), mux.Vars(r)["authorisation_rule_id"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) listPolicies(w http.ResponseWriter, r *http.Request) error {
	src, err := a.Store.PolicyList(r.Context())
	if err != nil {
		return err
	}
	return listOf(a, w, r, policyListSpec, src, []string{"name", "description", "system", "created_by", "created_at"}, policyResource)
}

func (a *API) readPolicyBody(r *http.Request) (model.PolicyAttributes, error) {
	var out model.PolicyAttributes
	if _, err := jsonapi.ParseQuery(r, plainSpec); err != nil {
		return out, err
	}
	body, err := jsonapi.DecodeBody(r, "authorisation_policy", []string{"name", "description", "authorisation_rules"})
	if err != nil {
		return out, err
	}
	if err := steward.First(body.Require("name"), body.String("name", &out.Name), body.NullableString("description", &out.Description)); err != nil {
		return out, err
	}
	if raw, ok := body.Attributes()["authorisation_rules"]; ok {
		var entries []map[string]json.RawMessage
		dec := json.NewDecoder(bytes.NewReader(raw))
		if err := dec.Decode(&entries); err != nil {
			return out, steward.Invalid("authorisation_rules", "invalid_type", "authorisation_rules must be a list of rules (objects with path, readable, updatable, executable, name)")
		}
		for i, e := range entries {
			rule, err := ruleBody(e, fmt.Sprintf("authorisation_rules/%d/", i))
			if err != nil {
				return out, err
			}
			out.Rules = append(out.Rules, rule)
		}
	}
	return out, nil
}

func (a *API) createPolicy(w http.ResponseWriter, r *http.Request) error {
	in, err := a.readPolicyBody(r)
	if err != nil {
		return err
	}
	p, err := a.Store.CreatePolicy(r.Context(), actorOf(r), in)
	if err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusCreated, jsonapi.Document{Data: policyResource(p)}, nil)
	return nil
}

func (a *API) showPolicy(w http.ResponseWriter, r *http.Request) error {
	q, err := jsonapi.ParseQuery(r, plainSpec)
	if err != nil {
		return err
	}
	p, err := a.Store.PolicyByID(r.Context(), mux.Vars(r)["authorisation_policy_id"])
	if err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: policyResource(p)}, q)
	return nil
}

func (a *API) updatePolicy(w http.ResponseWriter, r *http.Request) error {
	in, err := a.readPolicyBody(r)
	if err != nil {
		return err
	}
	p, err := a.Store.UpdatePolicy(r.Context(), actorOf(r), mux.Vars(r)["authorisation_policy_id"], in)
	if err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: policyResource(p)}, nil)
	return nil
}

func (a *API) deletePolicy(w http.ResponseWriter, r *http.Request) error {
	if _, err := jsonapi.ParseQuery(r, plainSpec); err != nil {
		return err
	}
	if err := a.Store.DeletePolicy(r.Context(), actorOf(r), mux.Vars(r)["authorisation_policy_id"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) listPolicyRules(w http.ResponseWriter, r *http.Request) error {
	src, err := a.Store.PolicyRuleList(r.Context(), mux.Vars(r)["authorisation_policy_id"])
	if err != nil {
		return err
	}
	return listOf(a, w, r, policyRuleListSpec, src, []string{"authorisation_rule_id", "created_by", "created_at"}, policyRuleResource)
}

func (a *API) addPolicyRules(w http.ResponseWriter, r *http.Request) error {
	if _, err := jsonapi.ParseQuery(r, plainSpec); err != nil {
		return err
	}
	body, err := jsonapi.DecodeBody(r, "policy_rule", []string{"authorisation_rule_id"})
	if err != nil {
		return err
	}
	if err := body.Require("authorisation_rule_id"); err != nil {
		return err
	}
	var ids []string
	var one string
	if body.String("authorisation_rule_id", &one) == nil {
		ids = []string{one}
	} else if err := body.Strings("authorisation_rule_id", &ids); err != nil {
		return steward.Invalid("authorisation_rule_id", "invalid_type", "authorisation_rule_id must be a rule id or a list of them")
	}
	links, err := a.Store.AddPolicyRules(r.Context(), actorOf(r), mux.Vars(r)["authorisation_policy_id"], ids)
	if err != nil {
		return err
	}
	data := make([]*jsonapi.Resource, len(links))
	for i := range links {
		data[i] = policyRuleResource(&links[i])
	}
	jsonapi.Render(w, http.StatusCreated, jsonapi.Document{Data: data}, nil)
	return nil
}

func (a *API) removePolicyRule(w http.ResponseWriter, r *http.Request) error {
	if _, err := jsonapi.ParseQuery(r, plainSpec); err != nil {
		return err
	}
	v := mux.Vars(r)
	if err := a.Store.RemovePolicyRule(r.Context(), actorOf(r), v["authorisation_policy_id"], v["policy_rule_id"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) listAssignments(w http.ResponseWriter, r *http.Request) error {
	src, err := a.Store.AssignmentList(r.Context(), mux.Vars(r)["authorisation_policy_id"])
	if err != nil {
		return err
	}
	return listOf(a, w, r, assignmentListSpec, src, []string{"username", "groupname", "created_by", "created_at"}, assignmentResource)
}

func (a *API) replaceAssignments(w http.ResponseWriter, r *http.Request) error {
	if _, err := jsonapi.ParseQuery(r, plainSpec); err != nil {
		return err
	}
	body, err := jsonapi.DecodeBody(r, "policy_assignment", []string{"assignments"})
	if err != nil {
		return err
	}
	if err := body.Require("assignments"); err != nil {
		return err
	}
	var entries []map[string]json.RawMessage
	if json.Unmarshal(body.Attributes()["assignments"], &entries) != nil {
		return steward.Invalid("assignments", "invalid_type", "assignments must be a list of objects with a username or a groupname")
	}
	to := make([]model.Assignee, len(entries))
	for i, e := range entries {
		for k, v := range e {
			var s string
			switch {
			case k != "username" && k != "groupname":
				return steward.Invalid(fmt.Sprintf("assignments/%d/%s", i, steward.Echo(k)), "unknown_attribute", "an assignment has a username or a groupname, not %q", steward.Echo(k))
			case json.Unmarshal(v, &s) != nil:
				return steward.Invalid(fmt.Sprintf("assignments/%d/%s", i, k), "invalid_type", "%s must be text", k)
			case k == "username":
				to[i].Username = &s
			default:
				to[i].Groupname = &s
			}
		}
	}
	rows, err := a.Store.ReplaceAssignments(r.Context(), actorOf(r), mux.Vars(r)["authorisation_policy_id"], to)
	if err != nil {
		return err
	}
	data := make([]*jsonapi.Resource, len(rows))
	for i := range rows {
		data[i] = assignmentResource(&rows[i])
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: data}, nil)
	return nil
}
