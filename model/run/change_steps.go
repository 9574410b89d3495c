package run

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stewardhq/steward/model"

	steward "github.com/stewardhq/steward"
)

// Bounds on a step tree. Actions may reuse each other (a DAG), so a small
// file can describe an exponential tree; these keep one change's rows and the
// engine's work sane.
const (
	maxStepDepth   = 20
	maxChangeSteps = 1000
	maxTimeout     = 7 * 24 * time.Hour
)

// actionNamePattern admits names that mean nothing to a shell: the action
// name travels into STEWARD_ACTION, logs and URLs, and a client that sends
// `build; rm -rf /` is refused before anything is read.
var actionNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,199}$`)

var envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ValidateActionName checks an action name at pointer.
func ValidateActionName(pointer, name string) error {
	switch {
	case name == "":
		return steward.Invalid(pointer, "blank", "action must not be empty")
	case !actionNamePattern.MatchString(name):
		return steward.Invalid(pointer, "invalid_action", "action %q may contain only letters, digits, '_', '.', ':', '/' and '-' "+
			"(no spaces or shell metacharacters), starting with a letter or digit, at most 200 characters", name)
	}
	return nil
}

// stepBuilder turns one action of an actions file into a change's step tree,
// depth first: Position is both the order among siblings and in the change.
type stepBuilder struct {
	file     *model.ActionsFile
	where    string // "actions.yaml at commit abc123", for errors
	changeID string
	now      time.Time
	steps    []*Step
	path     []string // actions from the root to the one being built
}

func (b *stepBuilder) fail(format string, args ...any) error {
	return steward.Invalid("action", "invalid_step_tree", "%s: %s", b.where, fmt.Sprintf(format, args...))
}

func (b *stepBuilder) add(st *Step) error {
	if len(b.steps) >= maxChangeSteps {
		return b.fail("action %q expands to more than %d steps", b.path[0], maxChangeSteps)
	}
	st.ID, st.ChangeID, st.Position = model.NewID(), b.changeID, len(b.steps)
	st.StepType, st.Status = "standard", StatusInitializing
	st.ApprovedBy, st.RejectedBy, st.ContinuedBy = JSONActors{}, JSONActors{}, JSONActors{}
	st.CreatedAt, st.UpdatedAt = b.now, b.now
	if st.ChildExecutionStrategy == "" {
		st.ChildExecutionStrategy = Sequential
	}
	if st.Env == nil {
		st.Env = model.JSONMap{}
	}
	b.steps = append(b.steps, st)
	return nil
}

// action adds the step for action name under parent (nil: the root) and,
// after it, its children.
func (b *stepBuilder) action(name string, parent *string) error {
	for i, a := range b.path {
		if a == name {
			return b.fail("actions call each other in a cycle: %s", strings.Join(append(b.path[i:], name), " -> "))
		}
	}
	if len(b.path) >= maxStepDepth {
		return b.fail("action %q nests steps more than %d deep: %s", b.path[0], maxStepDepth, strings.Join(b.path, " -> "))
	}
	def := b.file.Actions[name]
	if err := ValidateActionName("action", name); err != nil {
		return b.fail("action %q: %s", name, steward.AsError(err).Detail)
	}
	timeout, err := parseTimeout(def.Timeout)
	if err != nil {
		return b.fail("action %q: %s", name, err.Error())
	}
	env := model.JSONMap{}
	for k, v := range def.Env {
		if !envNamePattern.MatchString(k) {
			return b.fail("action %q: env name %q must be letters, digits and '_', not starting with a digit", name, k)
		}
		env[k] = v
	}
	st := &Step{ParentID: parent, Action: name, Name: strPtr(name), Kind: StepGroup, Env: env,
		TimeoutSeconds: timeout, ChildExecutionStrategy: def.RunAs}
	if strings.TrimSpace(def.Run) != "" {
		st.Kind, st.Run = StepRun, strPtr(def.Run)
	}
	if err := b.add(st); err != nil {
		return err
	}
	b.path = append(b.path, name)
	defer func() { b.path = b.path[:len(b.path)-1] }()
	for _, ref := range def.Steps {
		if ref.Wait != nil {
			if err := b.add(waitStep(name, st.ID, ref.Wait)); err != nil {
				return err
			}
			continue
		}
		if err := b.action(ref.Action, &st.ID); err != nil {
			return err
		}
	}
	return nil
}

// waitStep is a step that waits for continue (or approve/reject when it
// names a group). Its action is the action whose steps list it.
func waitStep(action, parentID string, w *model.WaitStep) *Step {
	st := &Step{ParentID: &parentID, Action: action, Kind: StepWait}
	name := w.Name
	if w.RequiresApprovalFrom != "" {
		st.RequiresApprovalFrom = strPtr(w.RequiresApprovalFrom)
		if name == "" {
			name = "Approval from " + w.RequiresApprovalFrom
		}
	}
	if name == "" {
		name = "Wait"
	}
	st.Name = &name
	return st
}

// ChangeApprovalName names the wait step a change starts with when its
// node's settings require an approval.
const ChangeApprovalName = "Change approval"

// buildStepTree builds the steps of a change running action, with an
// approval wait step first when approvalFrom is set. With an approval the
// root is a sequential group (the action's name) holding the approval, then
// the action's own tree: the engine needs nothing but wait steps for it.
func buildStepTree(file *model.ActionsFile, where, changeID, action string, approvalFrom *string, now time.Time) ([]*Step, error) {
	b := &stepBuilder{file: file, where: where, changeID: changeID, now: now}
	if approvalFrom == nil {
		if err := b.action(action, nil); err != nil {
			return nil, err
		}
		return b.steps, nil
	}
	root := &Step{Action: action, Name: strPtr(action), Kind: StepGroup, ChildExecutionStrategy: Sequential}
	if err := b.add(root); err != nil {
		return nil, err
	}
	approval := waitStep(action, root.ID, &model.WaitStep{Name: ChangeApprovalName, RequiresApprovalFrom: *approvalFrom})
	if err := b.add(approval); err != nil {
		return nil, err
	}
	if err := b.action(action, &root.ID); err != nil {
		return nil, err
	}
	return b.steps, nil
}

// parseTimeout reads an action's timeout: a Go duration ("10m", "1h30m") or
// whole seconds ("90"). Empty means the default (0).
func parseTimeout(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		n, nerr := strconv.Atoi(s)
		if nerr != nil {
			return 0, fmt.Errorf("timeout %q must be a duration such as 90s, 10m or 1h30m", s)
		}
		d = time.Duration(n) * time.Second
	}
	if d <= 0 || d > maxTimeout {
		return 0, fmt.Errorf("timeout %q must be more than 0 and at most %s", s, maxTimeout)
	}
	return int((d + time.Second - 1) / time.Second), nil
}

// closestActions lists up to three names of file closest to name (edit
// distance, case-insensitive), nearest first.
func closestActions(file *model.ActionsFile, name string) []string {
	type cand struct {
		name string
		dist int
	}
	limit := max(2, len(name)/3)
	var cands []cand
	lower := strings.ToLower(name)
	for _, n := range file.Names {
		ln := strings.ToLower(n)
		d := editDistance(lower, ln)
		if strings.Contains(ln, lower) || strings.Contains(lower, ln) {
			d = min(d, 1)
		}
		if d <= limit {
			cands = append(cands, cand{n, d})
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].dist < cands[j].dist })
	out := []string{}
	for i := 0; i < len(cands) && i < 3; i++ {
		out = append(out, cands[i].name)
	}
	return out
}

// editDistance is the optimal-string-alignment distance between a and b, by
// runes: Levenshtein plus swaps of neighbours, the commonest typo ("biuld").
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	rows := make([][]int, len(ra)+1)
	for i := range rows {
		rows[i] = make([]int, len(rb)+1)
		rows[i][0] = i
	}
	for j := range rows[0] {
		rows[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d := min(rows[i-1][j]+1, rows[i][j-1]+1, rows[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d = min(d, rows[i-2][j-2]+1)
			}
			rows[i][j] = d
		}
	}
	return rows[len(ra)][len(rb)]
}

func strPtr(s string) *string { return &s }
