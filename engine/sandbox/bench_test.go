package sandbox_test

import (
	"testing"

	"github.com/stewardhq/steward/engine/sandbox"
)

// BenchmarkStart prints what isolation adds to every step: `true` run in a
// namespace sandbox beside the same command run plainly (the floor).
func BenchmarkStart(b *testing.B) {
	for _, mode := range []sandbox.Mode{sandbox.None, sandbox.Namespace} {
		b.Run(string(mode), func(b *testing.B) {
			s := sandbox.Open(sandbox.Config{Mode: mode, Hide: []string{b.TempDir()}})
			if err := s.Unavailable(); err != nil {
				b.Skip(err)
			}
			for i := 0; i < b.N; i++ {
				p, err := s.Start(sandbox.Spec{Args: []string{"/bin/true"}, Dir: "/", Env: []string{"PATH=/usr/bin:/bin"}})
				if err != nil {
					b.Fatal(err)
				}
				if x, err := p.Wait(); err != nil || !x.OK() {
					b.Fatal(x, err)
				}
			}
		})
	}
}
