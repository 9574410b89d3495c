package engine_test

import (
	"strings"
	"testing"

	"github.com/stewardhq/steward/model/run"

	"github.com/stewardhq/steward/model"
)

// TestPropertyPatch applies what steps write to $STEWARD_PROPERTIES_PATCH:
// a patch that applies makes a property version linked to the step (and the
// next step sees it); one that does not apply, or is not a patch, fails the
// step, says why in its log, and leaves the properties alone.
func TestPropertyPatch(t *testing.T) {
	f := newFixture(t, actions(`
  patch:
    run: |
      echo '[{"op":"add","path":"/release","value":"2.0"},{"op":"replace","path":"/count","value":2}]' > "$STEWARD_PROPERTIES_PATCH"
      echo '[{"op":"remove","path":"/obsolete"}]' >> "$STEWARD_PROPERTIES_PATCH"
  show:
    run: cat "$STEWARD_PROPERTIES"; echo
  patch-then-show:
    steps: [patch, show]
  conflict:
    run: echo '[{"op":"test","path":"/count","value":99},{"op":"add","path":"/x","value":1}]' > "$STEWARD_PROPERTIES_PATCH"
  missing:
    run: echo '[{"op":"replace","path":"/nope/deeper","value":1}]' > "$STEWARD_PROPERTIES_PATCH"
  garbage:
    run: echo 'not json' > "$STEWARD_PROPERTIES_PATCH"
  not-object:
    run: echo '[{"op":"replace","path":"","value":[1]}]' > "$STEWARD_PROPERTIES_PATCH"
`))
	env := f.node("dev")
	initial := model.JSONMap{"count": 1, "obsolete": true}
	if _, err := f.store.UpdatePropertySet(f.ctx, f.admin, model.KindProperties, env.PropertiesID, model.PropertySetUpdate{Data: initial}); err != nil {
		t.Fatal(err)
	}
	props := func() *model.PropertySetWithOwner {
		ps, err := f.store.GetPropertySet(f.ctx, model.KindProperties, env.PropertiesID)
		if err != nil {
			t.Fatal(err)
		}
		return ps
	}

	c := f.run(env, "patch-then-show", nil, nil)
	f.wait(c, run.StatusSuccess)
	ps := props()
	if ps.Version != 3 || ps.Data["release"] != "2.0" || ps.Data["count"] != float64(2) || ps.Data["obsolete"] != nil {
		t.Fatalf("patched properties = v%d %v", ps.Version, ps.Data)
	}
	patchStep := f.steps(c)[1]
	var v model.PropertySetVersion
	if err := f.store.DB.Where("property_set_id = ? AND version = 3", ps.ID).Take(&v).Error; err != nil {
		t.Fatal(err)
	}
	if v.StepID == nil || *v.StepID != patchStep.ID {
		t.Errorf("version 3 is linked to step %v, want %s", v.StepID, patchStep.ID)
	}
	if log := f.log(c); !strings.Contains(log, `"release":"2.0"`) {
		t.Errorf("the next step did not see the patch:\n%s", log)
	}

	for _, tc := range []struct{ action, why string }{
		{"conflict", "does not apply"},
		{"missing", "does not apply"},
		{"garbage", "is not JSON"},
		{"not-object", "not a JSON object"},
	} {
		t.Run(tc.action, func(t *testing.T) {
			c := f.run(env, tc.action, nil, nil)
			f.wait(c, run.StatusError)
			log := f.log(c)
			if !strings.Contains(log, "the properties patch was not applied, so the step failed") || !strings.Contains(log, tc.why) {
				t.Errorf("log does not say why (%q):\n%s", tc.why, log)
			}
			if got := props(); got.Version != 3 {
				t.Errorf("a refused patch changed the properties: v%d %v", got.Version, got.Data)
			}
		})
	}
}
