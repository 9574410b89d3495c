package model

import (
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
)

// Checks at save, against the database, in the saving transaction: every
// change step's target asset, template version and action, and every
// workflow step's target, version and what it nests (no cycles). Each is
// read once per distinct value (nodes by path, versions by template, actions
// by commit), so a 5,000-step workflow costs a handful of queries, not
// one per step.
//
// A change step field holding a {{property.path}} placeholder is only known
// when the run resolves it from its properties, so the checks that depend
// on that field are skipped here and made when the step runs: a placeholder
// target skips every check of the step, a placeholder template_version
// skips the version and action checks, a placeholder action the action check.

// inChunks calls fn with ids in slices small enough for any database's
// bound-parameter limit.
func inChunks(ids []string, fn func([]string) error) error {
	const chunk = 500
	for len(ids) > 0 {
		n := min(chunk, len(ids))
		if err := fn(ids[:n]); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// checkChangeSteps checks the change steps' targets, template versions and actions.
func checkChangeSteps(tx *gorm.DB, refs []stepRef) error {
	var paths []string
	seen := map[string]bool{}
	for _, r := range refs {
		if t := r.step.Target; !HasPlaceholder(t) && !seen[t] {
			seen[t] = true
			paths = append(paths, t)
		}
	}
	if len(paths) == 0 {
		return nil
	}
	nodes := map[string]*Node{}
	lineage := map[string]bool{}
	if err := inChunks(paths, func(p []string) error {
		var rows []Node
		if err := tx.Where("path IN ?", p).Find(&rows).Error; err != nil {
			return err
		}
		for i := range rows {
			nodes[rows[i].Path] = &rows[i]
			for _, l := range Lineage(rows[i].Path) {
				lineage[l] = true
			}
		}
		return nil
	}); err != nil {
		return err
	}
	archived := map[string]bool{}
	if err := inChunks(mapKeys(lineage), func(p []string) error {
		var closed []string
		if err := tx.Model(&Node{}).Where("path IN ? AND archived = ?", p, true).Pluck("path", &closed).Error; err != nil {
			return err
		}
		for _, c := range closed {
			archived[c] = true
		}
		return nil
	}); err != nil {
		return err
	}
	// Every target must be an open asset before template versions are read.
	var assetIDs []string
	assets := map[string]bool{}
	for _, r := range refs {
		if HasPlaceholder(r.step.Target) {
			continue
		}
		n := nodes[r.step.Target]
		if err := targetAsset(r, n, archived); err != nil {
			return err
		}
		if !assets[n.ID] {
			assets[n.ID] = true
			assetIDs = append(assetIDs, n.ID)
		}
	}
	versions, err := newVersionLookup(tx, assetIDs)
	if err != nil {
		return err
	}
	for _, r := range refs {
		if HasPlaceholder(r.step.Target) {
			continue
		}
		tpl, tv, err := versions.of(r, nodes[r.step.Target])
		if err != nil || tv == nil {
			return err
		}
		if a := r.step.Action; !HasPlaceholder(a) && !versions.defines(tv, a) {
			names := make([]string, 0, len(tv.Actions))
			for _, x := range tv.Actions {
				names = append(names, x.Name)
			}
			if len(names) > 20 {
				names = append(names[:20:20], "...")
			}
			return &steward.Error{Kind: steward.KindInvalid, Code: "unknown_action", Field: r.at + "/action",
				Meta: map[string]any{"commit_sha": deref(tv.CommitSHA)},
				Detail: fmt.Sprintf("step %s: action %q is not defined in actions.yaml at commit %s (template %s version %s); defined: %s",
					r.at, a, deref(tv.CommitSHA), tpl.Code, tv.Version, strings.Join(names, ", "))}
		}
	}
	return nil
}

// targetAsset refuses a target that is missing, archived (or below an
// archived node) or not an asset.
func targetAsset(r stepRef, n *Node, archived map[string]bool) error {
	if n == nil {
		return steward.Invalid(r.targetAt, "unknown_target", "step %s: target %s is not a node; a change step targets an asset "+
			"(/projects/<p>/assets/<a> or /projects/<p>/environments/<e>/assets/<a>)", r.at, steward.Echo(r.step.Target))
	}
	for _, l := range Lineage(n.Path) {
		if archived[l] {
			return steward.Invalid(r.targetAt, "archived_target", "step %s: target %s is archived (%s), so it accepts no changes", r.at, n.Path, l)
		}
	}
	if n.Kind != KindAsset {
		article := "a"
		if n.Kind == KindEnvironment {
			article = "an"
		}
		return steward.Invalid(r.targetAt, "target_not_asset", "step %s: target %s is %s %s; a workflow change step targets an asset, "+
			"whose template version gives the commit its action is read from", r.at, n.Path, article, n.Kind)
	}
	return nil
}

// versionLookup holds the targets' template versions and the versions
// steps name, each read once.
type versionLookup struct {
	tx      *gorm.DB
	assets  map[string]VersionRef                  // asset id -> its template version
	named   map[string]map[string]*TemplateVersion // template id -> version name -> version
	actions map[string]map[string]bool             // version id -> its actions
}

func newVersionLookup(tx *gorm.DB, assetIDs []string) (*versionLookup, error) {
	l := &versionLookup{tx: tx, assets: map[string]VersionRef{}, named: map[string]map[string]*TemplateVersion{},
		actions: map[string]map[string]bool{}}
	view := &Store{DB: tx}
	err := inChunks(assetIDs, func(ids []string) error {
		refs, err := view.AssetTemplates(tx.Statement.Context, ids)
		for k, v := range refs {
			l.assets[k] = v
		}
		return err
	})
	return l, err
}

// of is the template and version the step's action is read from: the
// step's template_version of the asset's template, or the asset's own. A
// nil version (and nil error) means a placeholder version: checked at run.
func (l *versionLookup) of(r stepRef, asset *Node) (*Template, *TemplateVersion, error) {
	ref, ok := l.assets[asset.ID]
	if !ok {
		return nil, nil, steward.Invalid(r.targetAt, "no_template", "step %s: asset %s has no template, so it has no actions; "+
			"give it a template_name and template_version", r.at, asset.Path)
	}
	tv, field := ref.Version, r.targetAt
	if want := r.step.TemplateVersion; want != nil && *want != tv.Version {
		if HasPlaceholder(*want) {
			return ref.Template, nil, nil
		}
		named, err := l.versionsOf(ref.Template)
		if err != nil {
			return nil, nil, err
		}
		if tv = named[*want]; tv == nil {
			return nil, nil, steward.Invalid(r.at+"/template_version", "unknown_template_version",
				"step %s: template %q (of asset %s) has no version %q", r.at, ref.Template.Code, asset.Path, *want)
		}
		field = r.at + "/template_version"
	}
	if tv.State != VersionReady || tv.CommitSHA == nil || tv.Archived {
		state := tv.State
		if tv.Archived {
			state = "archived"
		}
		return nil, nil, steward.Invalid(field, "template_version_not_ready",
			"step %s: template %s version %s is %s; changes run ready versions only", r.at, ref.Template.Code, tv.Version, state)
	}
	return ref.Template, tv, nil
}

// defines reports whether version tv's actions.yaml defines action; each
// version's actions become a set once, however many steps name it.
func (l *versionLookup) defines(tv *TemplateVersion, action string) bool {
	set, ok := l.actions[tv.ID]
	if !ok {
		set = make(map[string]bool, len(tv.Actions))
		for _, a := range tv.Actions {
			set[a.Name] = true
		}
		l.actions[tv.ID] = set
	}
	return set[action]
}

func (l *versionLookup) versionsOf(t *Template) (map[string]*TemplateVersion, error) {
	if m, ok := l.named[t.ID]; ok {
		return m, nil
	}
	var rows []TemplateVersion
	if err := l.tx.Where("template_id = ?", t.ID).Find(&rows).Error; err != nil {
		return nil, err
	}
	m := make(map[string]*TemplateVersion, len(rows))
	for i := range rows {
		m[rows[i].Version] = &rows[i]
	}
	l.named[t.ID] = m
	return m, nil
}

func mapKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
