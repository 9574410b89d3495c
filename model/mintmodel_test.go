package model_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"testing"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/internal/testgit"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/converge"
)

const mintTemplate = `{"asset": "{{ .name }}", "port": {{ .port }}, "hosts": {{ json .hosts }}}`

// mintSetup gives asset web a template whose commit has a MintModel
// template, and properties that fill it.
func mintSetup(t *testing.T) *convTree {
	t.Helper()
	tr := convNewTree(t)
	repo := testgit.New(t)
	sha := repo.Commit("mintmodel", map[string]string{
		"properties/base.yaml":                       "port: 80\nhosts: [a]\n",
		"mintmodel/templates/assets/web.json.tmpl":   mintTemplate,
		"mintmodel/templates/assets/other.json.tmpl": `{}`,
	})
	convAssign(t, tr.store, tr.project, tr.web, repo.URL(), "web", sha)
	convSetProperties(t, tr.store, tr.web, model.JSONMap{"name": "web", "hosts": []any{"x", "y"}})
	return tr
}

func TestMintGenerate(t *testing.T) {
	t.Parallel()
	tr := mintSetup(t)
	g, err := tr.store.GenerateMintModel(context.Background(), tr.web)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"asset": "web", "port": 80, "hosts": ["x","y"]}`
	sum := sha256.Sum256([]byte(want))
	if string(g.Rendered.Bytes) != want || g.SHA256 != hex.EncodeToString(sum[:]) || g.Stored ||
		!reflect.DeepEqual(g.Data, model.JSONMap{"asset": "web", "port": 80.0, "hosts": []any{"x", "y"}}) {
		t.Fatalf("generated %s (%s) stored=%v data=%v", g.Rendered.Bytes, g.SHA256, g.Stored, g.Data)
	}
	var n int64
	if err := tr.store.DB.Model(&model.MintModel{}).Count(&n).Error; err != nil || n != 0 {
		t.Fatalf("generate stored %d MintModels (%v)", n, err)
	}
}

func TestMintGenerateErrors(t *testing.T) {
	t.Parallel()
	tr := mintSetup(t)
	ctx := context.Background()
	// api has a template whose commit has no MintModel template for its code.
	repo := testgit.New(t)
	sha := repo.Commit("no mintmodel", map[string]string{"mintmodel/templates/assets/web.json.tmpl": "{}"})
	convAssign(t, tr.store, tr.project, tr.api, repo.URL(), "api", sha)

	tests := []struct {
		name  string
		setup func()
		asset *model.Node
		code  string
		key   string
	}{
		{"missing key", func() { convSetProperties(t, tr.store, tr.web, model.JSONMap{"hosts": []any{}}) }, tr.web, "mintmodel_missing_key", "name"},
		{"no mintmodel", func() {}, tr.api, "no_mintmodel", ""},
		{"no template", func() {
			if err := tr.store.DB.Model(&model.Node{}).Where("id = ?", tr.api.ID).Update("template_version_id", gorm.Expr("NULL")).Error; err != nil {
				t.Fatal(err)
			}
		}, tr.api, "no_template", ""},
	}
	for _, tt := range tests {
		tt.setup()
		_, err := tr.store.GenerateMintModel(ctx, tt.asset)
		e := steward.AsError(err)
		if e.Kind != steward.KindInvalid || e.Code != tt.code || (tt.key != "" && e.Meta["key"] != tt.key) {
			t.Errorf("%s: got %#v", tt.name, e)
		}
	}
}

// mintRender renders a MintModel with one distinguishing value.
func mintRender(t *testing.T, v string) *converge.Rendered {
	t.Helper()
	r, err := converge.RenderMintModel("m.json.tmpl", []byte(`{"v": "{{ .v }}"}`), map[string]any{"v": v})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMintRecordHistory(t *testing.T) {
	t.Parallel()
	tr := mintSetup(t)
	store, ctx := tr.store, context.Background()
	a, b := mintRender(t, "a"), mintRender(t, "b")
	changes := make([]string, 5)
	for i := range changes {
		changes[i] = model.NewID()
	}
	steps := []struct {
		r       *converge.Rendered
		change  string
		added   bool
		history int64 // history entries after the step
		models  int64 // distinct MintModels after the step
	}{
		{a, changes[0], true, 1, 1},
		{a, changes[1], false, 1, 1}, // unchanged: joins the latest entry
		{b, changes[2], true, 2, 2},
		{a, changes[3], true, 3, 2}, // back to a: new entry, same MintModel row
		{a, "", false, 3, 2},
	}
	var entries []*model.MintModelHistory
	for i, s := range steps {
		var h *model.MintModelHistory
		var added bool
		var mm *model.MintModel
		err := store.Write(ctx, func(tx *gorm.DB) error {
			var err error
			mm, h, added, err = store.RecordMintModel(tx, tr.web, s.r, s.change)
			return err
		})
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		var nh, nm int64
		store.DB.Model(&model.MintModelHistory{}).Where("asset_id = ?", tr.web.ID).Count(&nh)
		store.DB.Model(&model.MintModel{}).Where("asset_id = ?", tr.web.ID).Count(&nm)
		if added != s.added || nh != s.history || nm != s.models || mm.SHA256 != s.r.SHA256 || h.MintmodelID != mm.ID {
			t.Fatalf("step %d: added=%v history=%d models=%d sha=%s; want %v %d %d %s", i, added, nh, nm, mm.SHA256, s.added, s.history, s.models, s.r.SHA256)
		}
		entries = append(entries, h)
	}
	if entries[0].ID != entries[1].ID || entries[3].MintmodelID != entries[0].MintmodelID || entries[4].ID != entries[3].ID {
		t.Fatalf("history entries: %+v", entries)
	}
	links, err := store.MintModelHistoryChangeIDs(ctx, []string{entries[0].ID, entries[2].ID, entries[3].ID})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{entries[0].ID: {changes[0], changes[1]}, entries[2].ID: {changes[2]}, entries[3].ID: {changes[3]}}
	if !reflect.DeepEqual(links, want) {
		t.Fatalf("change links %v, want %v", links, want)
	}
	ids, err := store.MintModelHistoryIDs(ctx, []string{entries[0].MintmodelID})
	if err != nil || !reflect.DeepEqual(ids[entries[0].MintmodelID], []string{entries[0].ID, entries[3].ID}) {
		t.Fatalf("history of MintModel a: %v (%v)", ids, err)
	}
}

func TestMintGenerateFindsStored(t *testing.T) {
	t.Parallel()
	tr := mintSetup(t)
	store, ctx := tr.store, context.Background()
	g, err := store.GenerateMintModel(ctx, tr.web)
	if err != nil {
		t.Fatal(err)
	}
	var stored *model.MintModel
	if err := store.Write(ctx, func(tx *gorm.DB) error {
		var err error
		stored, _, _, err = store.RecordMintModel(tx, tr.web, g.Rendered, model.NewID())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	again, err := store.GenerateMintModel(ctx, tr.web)
	if err != nil || !again.Stored || again.ID != stored.ID {
		t.Fatalf("generate after record: %+v (%v), want stored %s", again, err, stored.ID)
	}
}
