// Package yamlguard bounds what a YAML document can expand to before it is
// decoded: anchors and aliases let a document of a few hundred bytes stand
// for billions of nodes (a "billion laughs"), which a decoder would build in
// memory. Every YAML Steward reads from a client or a repository is checked
// here first.
package yamlguard

import (
	"fmt"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// MaxNodes is how many nodes a document may expand to, aliases counted at
// their full size each time they are used: far more than any workflow,
// actions.yaml or property file needs.
const MaxNodes = 200_000

// Check refuses a document whose expansion passes MaxNodes. A document
// that does not parse is left to the decoder, which says why with its
// position.
func Check(src []byte) error {
	f, err := parser.ParseBytes(src, 0)
	if err != nil {
		return nil
	}
	c := &counter{anchors: map[string]int{}}
	total := 0
	for _, doc := range f.Docs {
		total += c.size(doc.Body)
		if total > MaxNodes || c.over {
			return fmt.Errorf("the document expands to more than %d nodes through its anchors and aliases; write the values out or use fewer aliases", MaxNodes)
		}
	}
	return nil
}

type counter struct {
	anchors map[string]int // anchor name -> expanded size
	over    bool
}

// size is n's expanded node count, capped so a runaway count stops early.
func (c *counter) size(n ast.Node) int {
	if n == nil || c.over {
		return 0
	}
	total := 1
	switch n := n.(type) {
	case *ast.DocumentNode:
		return c.size(n.Body)
	case *ast.AnchorNode:
		s := c.size(n.Value)
		if n.Name != nil {
			c.anchors[strings.TrimSpace(n.Name.String())] = s
		}
		return s
	case *ast.AliasNode:
		if n.Value != nil {
			total = c.anchors[strings.TrimSpace(n.Value.String())]
		}
	case *ast.TagNode:
		return c.size(n.Value)
	case *ast.MappingNode:
		for _, v := range n.Values {
			total += c.size(v)
		}
	case *ast.MappingValueNode:
		total += c.size(n.Key) + c.size(n.Value)
	case *ast.MappingKeyNode:
		total += c.size(n.Value)
	case *ast.SequenceNode:
		for _, v := range n.Values {
			total += c.size(v)
		}
	}
	if total > MaxNodes {
		c.over = true
	}
	return total
}

// Documents is how many YAML documents src holds (0 when it does not
// parse): a reader that takes one refuses the rest rather than ignore them.
func Documents(src []byte) int {
	f, err := parser.ParseBytes(src, 0)
	if err != nil {
		return 0
	}
	n := 0
	for _, doc := range f.Docs {
		if doc.Body != nil {
			n++
		}
	}
	return n
}
