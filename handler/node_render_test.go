package handler

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/authz"
)

// A node's meta writes itself as encoding/json would write it, for every
// kind and for readers who may do everything, something or nothing.
func TestNodeMetaAppendJSONMatchesEncodingJSON(t *testing.T) {
	readers := map[string]*model.Actor{
		"system": model.SystemActor,
		"nobody": model.Anonymous,
		"reader": {Username: "r", Rules: []authz.Rule{{Path: "/projects/p", Readable: true}}},
	}
	for _, kind := range []string{model.KindProject, model.KindEnvironment, model.KindAsset} {
		n := &model.Node{Kind: kind, Path: "/projects/p"}
		for name, reader := range readers {
			m := nodeMetaFor(n, reader)
			want, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.AppendJSON(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s as %s:\n got %s\nwant %s", kind, name, got, want)
			}
		}
	}
	empty := &nodeMeta{}
	want, _ := json.Marshal(empty)
	if got, _ := empty.AppendJSON(nil); !bytes.Equal(got, want) {
		t.Errorf("empty meta:\n got %s\nwant %s", got, want)
	}
}
