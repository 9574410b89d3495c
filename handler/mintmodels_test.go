package handler_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/stewardhq/steward/internal/testgit"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/converge"
)

// mintServer gives asset web (below dev) a template with a MintModel
// template, and asset api a template without one.
func mintServer(t *testing.T) (*testutil.Server, map[string]string) {
	t.Helper()
	s, props := convServer(t)
	repo := testgit.New(t)
	sha := repo.Commit("mintmodel", map[string]string{
		"properties/base.json":                     `{"port": 8080}`,
		"mintmodel/templates/assets/web.json.tmpl": `{"name": "{{ .name }}", "port": {{ .port }}}`,
	})
	convAssign(t, s, convWeb, repo.URL(), "web", sha)
	convAssign(t, s, convAPI, repo.URL(), "api", sha)
	convPatchProperties(t, s, props[convWeb], map[string]any{"name": "web"})
	return s, props
}

// mintRecord stores rendered as the MintModel change ran with, as a change will.
func mintRecord(t *testing.T, s *testutil.Server, path string, r *converge.Rendered, change string) {
	t.Helper()
	ctx := context.Background()
	asset, err := s.Store.NodeByPath(ctx, strings.TrimPrefix(path, "/api"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Store.Write(ctx, func(tx *gorm.DB) error {
		_, _, _, err := s.Store.RecordMintModel(tx, asset, r, change)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func TestMintModelGenerateEndpoint(t *testing.T) {
	t.Parallel()
	s, props := mintServer(t)
	want := `{"name": "web", "port": 8080}`
	sum := sha256.Sum256([]byte(want))

	resp := s.Get(t, convWeb+"/mintmodels/generate").Expect(t, http.StatusOK)
	d := resp.Data(t)
	attrs := testutil.One[testutil.Mintmodel](t, resp)
	if attrs.SHA256 != hex.EncodeToString(sum[:]) ||
		!reflect.DeepEqual(attrs.Data, map[string]any{"name": "web", "port": 8080.0}) ||
		d["links"].(map[string]any)["self"] != convWeb+"/mintmodels/generate" ||
		d["links"].(map[string]any)["parent_mintmodel_history"] != convWeb+"/mintmodel_history" {
		t.Fatalf("generated %v", d)
	}
	if got := testutil.Many[testutil.Mintmodel](t, s.Get(t, convWeb+"/mintmodels").Expect(t, http.StatusOK)); len(got) != 0 {
		t.Fatalf("generate stored a MintModel: %+v", got)
	}

	// Once a change has run with the same content, generate shows that record.
	mintRecord(t, s, convWeb, &converge.Rendered{Bytes: []byte(want), SHA256: attrs.SHA256,
		Data: map[string]any{"name": "web", "port": 8080.0}}, model.NewID())
	againResp := s.Get(t, convWeb+"/mintmodels/generate").Expect(t, http.StatusOK)
	again := testutil.One[testutil.Mintmodel](t, againResp)
	if againResp.Data(t)["links"].(map[string]any)["self"] != convWeb+"/mintmodels/"+again.ID ||
		len(again.MintmodelHistory) != 1 {
		t.Fatalf("generate after a change: %s", againResp.Body)
	}

	tests := []struct {
		name, setup, path, code, detail string
	}{
		{"missing key", "drop name", convWeb + "/mintmodels/generate", "mintmodel_missing_key", `"name"`},
		{"no MintModel template", "", convAPI + "/mintmodels/generate", "no_mintmodel", "mintmodel/templates/assets/api.json.tmpl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup == "drop name" {
				convPatchProperties(t, s, props[convWeb], map[string]any{})
			}
			e := s.Get(t, tt.path).Expect(t, http.StatusUnprocessableEntity).ErrorObject(t)
			if e["code"] != tt.code || !strings.Contains(e["detail"].(string), tt.detail) {
				t.Fatalf("error %v", e)
			}
		})
	}
}

func TestMintModelGenerateWithoutTemplate(t *testing.T) {
	t.Parallel()
	s, _ := convServer(t)
	e := s.Get(t, convAPI+"/mintmodels/generate").Expect(t, http.StatusUnprocessableEntity).ErrorObject(t)
	if e["code"] != "no_template" || !strings.Contains(e["detail"].(string), "no template") {
		t.Fatalf("error %v", e)
	}
	if v := testutil.One[testutil.Asset](t, s.Get(t, convAPI).Expect(t, http.StatusOK)).MintmodelValid; v {
		t.Fatalf("an asset without a template has mintmodel_valid %v", v)
	}
	// MintModels belong to assets only.
	s.Get(t, convEnv+"/mintmodels/generate").Expect(t, http.StatusNotFound)
}

func TestMintModelStoredEndpoints(t *testing.T) {
	t.Parallel()
	s, _ := mintServer(t)
	if got := testutil.Many[testutil.Mintmodel](t, s.Get(t, convWeb+"/mintmodels").Expect(t, http.StatusOK)); len(got) != 0 {
		t.Fatalf("mintmodels: %+v", got)
	}
	for _, p := range []string{convWeb + "/mintmodel_history", convAPI + "/mintmodel_history"} {
		if got := testutil.Many[testutil.MintmodelHistory](t, s.Get(t, p).Expect(t, http.StatusOK)); len(got) != 0 {
			t.Fatalf("%s: %+v", p, got)
		}
	}
	render := func(v string) *converge.Rendered {
		r, err := converge.RenderMintModel("m", []byte(`{"v": "{{ .v }}"}`), map[string]any{"v": v})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	c1, c2, c3 := model.NewID(), model.NewID(), model.NewID()
	mintRecord(t, s, convWeb, render("a"), c1)
	mintRecord(t, s, convWeb, render("a"), c2)
	mintRecord(t, s, convWeb, render("b"), c3)

	models := testutil.Many[testutil.Mintmodel](t, s.Get(t, convWeb+"/mintmodels").Expect(t, http.StatusOK))
	historyResp := s.Get(t, convWeb+"/mintmodel_history").Expect(t, http.StatusOK)
	history := testutil.Many[testutil.MintmodelHistory](t, historyResp)
	if len(models) != 2 || len(history) != 2 {
		t.Fatalf("%d MintModels, %d history entries; want 2 and 2", len(models), len(history))
	}
	first, firstRaw := history[0], historyResp.List(t)[0].(map[string]any)
	modelA := models[0]
	// The asset itself names its history, and its template offers a MintModel.
	asset := testutil.One[testutil.Asset](t, s.Get(t, convWeb).Expect(t, http.StatusOK))
	if v := asset.MintmodelValid; !v {
		t.Fatalf("mintmodel_valid %v for an asset whose template has a MintModel", v)
	}
	if got := convIDs(asset.MintmodelHistory); !reflect.DeepEqual(got, []string{first.ID, history[1].ID}) {
		t.Fatalf("asset mintmodel_history relationship %v", got)
	}
	if !reflect.DeepEqual(convIDs(first.OpschainChanges), []string{c1, c2}) ||
		!reflect.DeepEqual(convIDs(modelA.MintmodelHistory), []string{first.ID}) {
		t.Fatalf("history %+v / model %+v", first, modelA)
	}
	// parents holds a project and an asset: mixed types, which google/jsonapi
	// cannot type, so they are read raw.
	var parents []string
	for _, p := range firstRaw["relationships"].(map[string]any)["parents"].(map[string]any)["data"].([]any) {
		parents = append(parents, p.(map[string]any)["type"].(string))
	}
	// The reference's MintModel history names the project and the asset only.
	if !reflect.DeepEqual(parents, []string{"project", "asset"}) {
		t.Fatalf("parents %v", parents)
	}
	rel := firstRaw["relationships"].(map[string]any)["mintmodel"].(map[string]any)
	if first.Mintmodel == nil || first.Mintmodel.ID != modelA.ID || rel["links"].(map[string]any)["related"] != convWeb+"/mintmodels/"+modelA.ID {
		t.Fatalf("mintmodel relationship %v", rel)
	}

	show := s.Get(t, convWeb+"/mintmodel_history/"+first.ID).Expect(t, http.StatusOK).JSON(t)
	if got := convIncluded(t, show); got["mintmodel"] != 1 {
		t.Fatalf("history show included %v", got)
	}
	listed := s.Get(t, convWeb+"/mintmodel_history?include=mintmodel&filter[mintmodel_id_eq]="+modelA.ID).Expect(t, http.StatusOK).JSON(t)
	if len(listed["data"].([]any)) != 1 || convIncluded(t, listed)["mintmodel"] != 1 {
		t.Fatalf("filtered history %v", listed)
	}
	d := testutil.One[testutil.Mintmodel](t, s.Get(t, convWeb+"/mintmodels/"+modelA.ID).Expect(t, http.StatusOK))
	if d.Data["v"] != "a" {
		t.Fatalf("show %+v", d)
	}
	csv := s.Get(t, convWeb+"/mintmodels?download=mm.csv").Expect(t, http.StatusOK)
	if lines := strings.Split(strings.TrimSpace(string(csv.Body)), "\n"); len(lines) != 3 || lines[0] != "id,sha256,created_at,updated_at,data" {
		t.Fatalf("csv %q", csv.Body)
	}

	for _, p := range []string{
		convWeb + "/mintmodels/" + model.NewID(),
		convWeb + "/mintmodels/not-an-id",
		convWeb + "/mintmodel_history/" + model.NewID(),
		convAPI + "/mintmodels/" + modelA.ID, // another asset's
	} {
		s.Get(t, p).Expect(t, http.StatusNotFound)
	}
}
