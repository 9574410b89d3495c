package run

import (
	"reflect"
	"testing"

	"github.com/stewardhq/steward/model"
)

func TestClosestActions(t *testing.T) {
	t.Parallel()
	file := &model.ActionsFile{Names: []string{"build", "deploy", "release", "rollback"}}
	cases := []struct {
		typed string
		want  []string
	}{
		{"biuld", []string{"build"}},    // swapped neighbours
		{"deploi", []string{"deploy"}},  // one substitution
		{"relase", []string{"release"}}, // one deletion
		{"rollback-all", []string{"rollback"}},
		{"zzzzzz", []string{}},
	}
	for _, c := range cases {
		if got := closestActions(file, c.typed); !reflect.DeepEqual(got, c.want) {
			t.Errorf("closestActions(%q) = %v, want %v", c.typed, got, c.want)
		}
	}
	if d := editDistance("biuld", "build"); d != 1 {
		t.Errorf("editDistance(biuld, build) = %d, want 1", d)
	}
}
