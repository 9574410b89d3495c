package model

import (
	"slices"
	"testing"
)

func TestAncestorPaths(t *testing.T) {
	for _, c := range []struct {
		path string
		want []string
	}{
		{"/projects/p", nil},
		{"/projects/p/environments/e", []string{"/projects/p"}},
		{"/projects/p/assets/a", []string{"/projects/p"}},
		{"/projects/p/environments/e/assets/a", []string{"/projects/p", "/projects/p/environments/e"}},
	} {
		if got := ancestorPaths(c.path); !slices.Equal(got, c.want) {
			t.Errorf("ancestorPaths(%q) = %q, want %q", c.path, got, c.want)
		}
	}
}
