package yamlguard_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stewardhq/steward/pkg/yamlguard"
)

// laughs is a document of a few hundred bytes whose aliases expand to 9^levels nodes.
func laughs(levels int) string {
	var b strings.Builder
	b.WriteString("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= levels; i++ {
		refs := make([]string, 9)
		for j := range refs {
			refs[j] = fmt.Sprintf("*a%d", i-1)
		}
		fmt.Fprintf(&b, "a%d: &a%d [%s]\n", i, i, strings.Join(refs, ", "))
	}
	return b.String()
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		ok   bool
	}{
		{"plain", "name: x\nsteps:\n  - type: wait\n", true},
		{"a few aliases", "base: &b {run: x}\na: *b\nb: *b\n", true},
		{"three levels of laughs", laughs(3), true},
		{"nine levels of laughs", laughs(9), false},
		{"laughs in a flow mapping", "k0: &a {x1: lol, x2: lol}\nk1: &b {" + strings.Repeat("y: *a, ", 0) + "y1: *a}\n", true},
		{"not YAML at all", "\t- [", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := yamlguard.Check([]byte(tc.doc)); (err == nil) != tc.ok {
				t.Errorf("Check = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
