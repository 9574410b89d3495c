package config

import (
	"flag"
	"io"
	"slices"
	"testing"
)

func TestCORSOrigins(t *testing.T) {
	tests := []struct {
		name, env string
		args      []string
		want      []string
		wantErr   bool
	}{
		{"unset: none", "", nil, nil, false},
		{"list with spaces and a trailing slash", " https://ops.example.com, http://localhost:5173/ ,", nil,
			[]string{"https://ops.example.com", "http://localhost:5173"}, false},
		{"any", "*", nil, []string{"*"}, false},
		{"flag wins", "https://a.example.com", []string{"--cors-origins", "https://b.example.com"}, []string{"https://b.example.com"}, false},
		{"a path is no origin", "https://ops.example.com/app", nil, nil, true},
		{"no scheme", "ops.example.com", nil, nil, true},
		{"other scheme", "ftp://ops.example.com", nil, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("STEWARD_CORS_ORIGINS", tc.env)
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			c, err := Load(fs, tc.args)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("accepted %q as %v", tc.env, c.CORSOrigins)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.CORSOrigins, tc.want) {
				t.Errorf("CORSOrigins %q, want %q", c.CORSOrigins, tc.want)
			}
		})
	}
}
