package model_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
)

// wfFixture is tmplFixture with version v1 of template web ready and asset
// soa (and environment dev) using it.
type wfFixture struct {
	*tmplFixture
	asset *model.Node
	env   *model.Node
}

func wfSetup(t *testing.T) *wfFixture {
	t.Helper()
	f := &wfFixture{tmplFixture: tmplSetup(t)}
	f.put(t, "v1", "main")
	var err error
	f.asset, err = f.store.CreateNode(f.ctx, model.SystemActor, f.project, model.KindAsset,
		model.NodeInput{Code: "soa", Name: "SOA", TemplateName: remoteStr("web"), TemplateVersion: remoteStr("v1")})
	if err != nil {
		t.Fatalf("create asset: %v", err)
	}
	if f.env, err = f.store.CreateNode(f.ctx, model.SystemActor, f.project, model.KindEnvironment, model.NodeInput{Code: "dev", Name: "Dev"}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *wfFixture) create(t *testing.T, project *model.Node, code, steps string, draft bool) (*model.WorkflowView, error) {
	t.Helper()
	return f.store.CreateWorkflow(f.ctx, model.SystemActor, project, model.WorkflowInput{
		Code: code, Name: remoteStr(code + " workflow"), Draft: &draft, Steps: json.RawMessage(steps)})
}

func (f *wfFixture) mustCreate(t *testing.T, project *model.Node, code, steps string, draft bool) *model.WorkflowView {
	t.Helper()
	v, err := f.create(t, project, code, steps, draft)
	if err != nil {
		t.Fatalf("create workflow %s: %v", code, err)
	}
	return v
}

func stepsJSON(t *testing.T, steps model.WorkflowSteps) string {
	t.Helper()
	b, err := json.Marshal(steps)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWorkflowStepInference(t *testing.T) {
	t.Parallel()
	f := wfSetup(t)
	for i, c := range []struct{ name, in, want string }{
		{"change", `[{"type":"change","target":"/projects/opc/assets/soa","action":"build"}]`,
			`[{"type":"change","name":"build","target":"/projects/opc/assets/soa","action":"build"}]`},
		{"change inferred", `[{"target":"/projects/opc/assets/soa","action":"build","name":"Build it","template_version":"v1"}]`,
			`[{"type":"change","name":"Build it","target":"/projects/opc/assets/soa","action":"build","template_version":"v1"}]`},
		{"wait", `[{"type":"wait"}]`, `[{"type":"wait","name":"Wait"}]`},
		{"approval", `[{"type":"wait","requires_approval_from":"ops"}]`, `[{"type":"wait","name":"Approval","requires_approval_from":"ops"}]`},
		{"stage", `[{"name":"s","run_as":"parallel","children":[{"type":"wait","name":"w"}]}]`,
			`[{"name":"s","run_as":"parallel","children":[{"type":"wait","name":"w"}]}]`},
		{"targets fan out", `[{"targets":["/projects/opc/assets/soa","/projects/opc/assets/soa"],"action":"release"}]`,
			`[{"name":"release","run_as":"parallel","children":[{"type":"change","name":"release","target":"/projects/opc/assets/soa","action":"release"},{"type":"change","name":"release","target":"/projects/opc/assets/soa","action":"release"}]}]`},
		{"targets sequential", `[{"type":"change","name":"all","run_as":"sequential","targets":["/projects/opc/assets/soa"],"action":"release"}]`,
			`[{"name":"all","run_as":"sequential","children":[{"type":"change","name":"release","target":"/projects/opc/assets/soa","action":"release"}]}]`},
		{"placeholders", `[{"target":"/projects/opc/assets/{{asset}}","action":"{{action}}"}]`,
			`[{"type":"change","name":"{{action}}","target":"/projects/opc/assets/{{asset}}","action":"{{action}}"}]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := f.create(t, f.project, fmt.Sprintf("w%d", i), c.in, false)
			if err != nil {
				t.Fatal(err)
			}
			if got := stepsJSON(t, v.Latest.Steps); got != c.want {
				t.Fatalf("steps\n got %s\nwant %s", got, c.want)
			}
			// The derived YAML parses back to the same steps.
			source := strings.Replace(v.Latest.SourceYAML, "code: w", "code: y", 1)
			back, err := f.store.CreateWorkflow(f.ctx, model.SystemActor, f.project, model.WorkflowInput{
				Code: fmt.Sprintf("y%d", i), SourceYAML: &source})
			if err != nil {
				t.Fatalf("YAML %s: %v", v.Latest.SourceYAML, err)
			}
			if got := stepsJSON(t, back.Latest.Steps); got != c.want || back.Latest.Name != v.Latest.Name {
				t.Fatalf("from YAML %q: %s, want %s", back.Latest.Name, got, c.want)
			}
		})
	}
}

func TestWorkflowRefusesBadSteps(t *testing.T) {
	t.Parallel()
	f := wfSetup(t)
	archived, err := f.store.CreateNode(f.ctx, model.SystemActor, f.project, model.KindAsset,
		model.NodeInput{Code: "old", Name: "Old", TemplateName: remoteStr("web"), TemplateVersion: remoteStr("v1")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.ArchiveNode(f.ctx, model.SystemActor, archived); err != nil {
		t.Fatal(err)
	}
	bare := f.asset.Path[:len(f.asset.Path)-3] + "bare"
	if _, err := f.store.CreateNode(f.ctx, model.SystemActor, f.project, model.KindAsset, model.NodeInput{Code: "bare", Name: "Bare"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, steps, code, field, detail string }{
		{"empty", `[]`, "blank", "steps", "at least one"},
		{"not an array", `{}`, "invalid_type", "steps", "array"},
		{"unknown key", `[{"type":"wait","colour":"red"}]`, "unknown_key", "steps/0/colour", "colour"},
		{"key of another type", `[{"type":"wait","action":"x"}]`, "not_allowed", "steps/0/action", "wait"},
		{"stage with type", `[{"type":"change","name":"s","run_as":"parallel","children":[{"type":"wait"}]}]`, "not_allowed", "steps/0/run_as", "change"},
		{"unknown type", `[{"type":"noop"}]`, "invalid_value", "steps/0/type", "noop"},
		{"untyped wait", `[{"name":"w"}]`, "unknown_step_type", "steps/0", "type"},
		{"stage without name", `[{"run_as":"parallel","children":[{"type":"wait"}]}]`, "required", "steps/0/name", "name"},
		{"bad run_as", `[{"name":"s","run_as":"sideways","children":[{"type":"wait"}]}]`, "invalid_value", "steps/0/run_as", "sideways"},
		{"no action", `[{"type":"change","target":"/projects/opc/assets/soa"}]`, "required", "steps/0/action", "action"},
		{"bad start_time", `[{"type":"wait"},{"target":"/projects/opc/assets/soa","action":"build","start_time":"soon"}]`, "invalid_time", "steps/1/start_time", "RFC 3339"},
		{"nested bad", `[{"type":"wait"},{"type":"wait"},{"name":"s","run_as":"sequential","children":[{"type":"change","target":"/projects/opc/assets/soa","action":7}]}]`,
			"invalid_type", "steps/2/children/0/action", "string"},
		{"unknown target", `[{"target":"/projects/opc/assets/nope","action":"build"}]`, "unknown_target", "steps/0/target", "nope"},
		{"unknown fanned target", `[{"targets":["/projects/opc/assets/soa","/projects/opc/assets/nope"],"action":"build"}]`, "unknown_target", "steps/0/targets/1", "nope"},
		{"project target", `[{"target":"/projects/opc","action":"build"}]`, "target_not_asset", "steps/0/target", "asset"},
		{"environment target", `[{"target":"/projects/opc/environments/dev","action":"build"}]`, "target_not_asset", "steps/0/target", "template version"},
		{"archived target", `[{"target":"` + archived.Path + `","action":"build"}]`, "archived_target", "steps/0/target", "archived"},
		{"asset without template", `[{"target":"` + bare + `","action":"build"}]`, "no_template", "steps/0/target", "no template"},
		{"unknown action", `[{"name":"s","run_as":"parallel","children":[{"type":"wait"},{"target":"/projects/opc/assets/soa","action":"explode"}]}]`,
			"unknown_action", "steps/0/children/1/action", "build, deploy, release"},
		{"unknown template version", `[{"target":"/projects/opc/assets/soa","action":"build","template_version":"v9"}]`, "unknown_template_version", "steps/0/template_version", "v9"},
		{"unknown workflow", `[{"type":"workflow","target":"/projects/opc/workflows/nope"}]`, "unknown_workflow", "steps/0/target", "nope"},
		{"bad workflow target", `[{"type":"workflow","target":"/projects/opc/assets/soa"}]`, "invalid_target", "steps/0/target", "workflows"},
		{"itself", `[{"type":"workflow","target":"/projects/opc/workflows/bad"}]`, "workflow_cycle", "steps/0/target", "itself"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.create(t, f.project, "bad", c.steps, false)
			e := steward.AsError(err)
			if err == nil || e.Kind != steward.KindInvalid || e.Code != c.code || e.Field != c.field || !strings.Contains(e.Detail, c.detail) {
				t.Fatalf("error %v (code %q field %q), want %s at %s mentioning %q", err, e.Code, e.Field, c.code, c.field, c.detail)
			}
		})
	}
	if n := countRows(t, f, "workflows"); n != 0 {
		t.Fatalf("%d workflows left behind by refused saves", n)
	}
}

func countRows(t *testing.T, f *wfFixture, table string) int64 {
	t.Helper()
	var n int64
	if err := f.store.DB.Table(table).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWorkflowYAMLErrors(t *testing.T) {
	t.Parallel()
	f := wfSetup(t)
	for _, c := range []struct{ name, yaml, code, detail string }{
		{"tab", "steps:\n\t- type: wait\n", "invalid_yaml", "line 2, column 1"},
		{"duplicate key", "steps:\n  - type: wait\n    name: a\n    name: b\n", "invalid_yaml", "line 4, column 5"},
		{"unknown key", "name: x\nsteps:\n  - type: wait\n    colour: red\n", "invalid_yaml", "line 4, column 5"},
		{"unknown top key", "name: x\nowner: me\nsteps:\n  - type: wait\n", "invalid_yaml", "line 2, column 1"},
		{"wrong type", "steps:\n  - type: workflow\n    target: /projects/opc/workflows/x\n    version: latest\n", "invalid_yaml", "line 4"},
		{"no steps", "name: x\n", "required", "steps"},
		{"bad step", "name: x\nsteps:\n  - type: wait\n  - name: s\n    run_as: parallel\n    children:\n      - target: /projects/opc/assets/soa\n        action: explode\n",
			"unknown_action", "line 8, column 17"},
		{"code mismatch", "code: other\nsteps:\n  - type: wait\n", "code_mismatch", "other"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.store.CreateWorkflow(f.ctx, model.SystemActor, f.project, model.WorkflowInput{Code: "y", Name: remoteStr("Y"), SourceYAML: &c.yaml})
			e := steward.AsError(err)
			if err == nil || e.Code != c.code || e.Field != "source_yaml" || !strings.Contains(e.Detail, c.detail) {
				t.Fatalf("error %v (code %q field %q), want %s at source_yaml mentioning %q", err, e.Code, e.Field, c.code, c.detail)
			}
		})
	}
}
