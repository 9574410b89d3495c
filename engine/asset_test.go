package engine_test

import (
	"strings"
	"testing"

	"github.com/stewardhq/steward/model/run"

	"github.com/stewardhq/steward/internal/testgit"
	"github.com/stewardhq/steward/model"
)

// TestAssetChange runs an asset's action from its template's repository:
// in the template's folder, with the template's repository properties, and
// the MintModel rendered and stored as the change starts (a history entry
// only when it differs from the latest). A MintModel that cannot render
// fails the change before any step runs, and says why.
func TestAssetChange(t *testing.T) {
	f := newFixture(t, actions("  unused:\n    run: \"true\"\n"))
	tplRepo := testgit.New(t)
	tplRepo.Commit("template", map[string]string{
		"web/actions.yaml":                         "actions:\n  deploy:\n    run: |\n      echo \"in $(basename $(pwd)) for $STEWARD_NODE_PATH\"\n      cat \"$STEWARD_PROPERTIES\"; echo\n",
		"properties/base.yaml":                     "port: 8080\n",
		"mintmodel/templates/assets/web.json.tmpl": `{"name": "{{ .name }}", "port": {{ .port }}}`,
	})
	tpl, err := f.store.CreateTemplate(f.ctx, f.admin, f.project, model.TemplateInput{Code: "web", Name: "Web", URL: tplRepo.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.store.PutTemplateVersion(f.ctx, f.admin, f.project, tpl, "1.0", model.TemplateVersionInput{GitRev: "main"}); err != nil {
		t.Fatal(err)
	}
	if err := f.store.ResolvePendingTemplateVersions(f.ctx); err != nil {
		t.Fatal(err)
	}
	env := f.node("prod")
	name, version := "web", "1.0"
	asset, err := f.store.CreateNode(f.ctx, f.admin, env, model.KindAsset, model.NodeInput{Code: "web1", Name: "web1", TemplateName: &name, TemplateVersion: &version})
	if err != nil {
		t.Fatal(err)
	}
	setProps := func(data model.JSONMap) {
		if _, err := f.store.UpdatePropertySet(f.ctx, f.admin, model.KindProperties, asset.PropertiesID, model.PropertySetUpdate{Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	runAsset := func() *run.Change {
		t.Helper()
		c, err := f.store.CreateChange(f.ctx, f.admin, asset, run.ChangeInput{Action: "deploy"})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	historyRows := func() int64 {
		var n int64
		if err := f.store.DB.Model(&model.MintModelHistory{}).Where("asset_id = ?", asset.ID).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}

	setProps(model.JSONMap{"name": "first"})
	c1 := f.wait(runAsset(), run.StatusSuccess)
	log := f.log(c1)
	if !strings.Contains(log, "in web for /projects/p/environments/prod/assets/web1") || !strings.Contains(log, `"port":8080`) {
		t.Errorf("the step did not run in the template folder with its repository properties:\n%s", log)
	}
	if c1.MintmodelID == nil {
		t.Fatal("the change stored no MintModel")
	}
	var mm model.MintModel
	if err := f.store.DB.Where("id = ?", *c1.MintmodelID).Take(&mm).Error; err != nil {
		t.Fatal(err)
	}
	if mm.Data["name"] != "first" || mm.Data["port"] != float64(8080) {
		t.Errorf("MintModel = %v", mm.Data)
	}
	c2 := f.wait(runAsset(), run.StatusSuccess)
	if c2.MintmodelID == nil || *c2.MintmodelID != mm.ID || historyRows() != 1 {
		t.Errorf("an unchanged MintModel made a new one (%v) or a history entry (%d)", c2.MintmodelID, historyRows())
	}
	setProps(model.JSONMap{"name": "second"})
	c3 := f.wait(runAsset(), run.StatusSuccess)
	if c3.MintmodelID == nil || *c3.MintmodelID == mm.ID || historyRows() != 2 {
		t.Errorf("a changed MintModel was not recorded: %v, %d history entries", c3.MintmodelID, historyRows())
	}

	setProps(model.JSONMap{}) // .name is missing now
	c4 := f.wait(runAsset(), run.StatusError)
	if got := f.stepSummary(c4); got != "deploy:aborted" {
		t.Errorf("steps of a change whose MintModel failed: %s", got)
	}
	if log := f.log(c4); !strings.Contains(log, "the change could not start") || !strings.Contains(log, "name") {
		t.Errorf("log does not say why the change failed:\n%s", log)
	}
}
