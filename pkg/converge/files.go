package converge

import (
	"path"
	"sort"
	"strings"
)

// Root is the repository folder holding property files.
const Root = "properties"

// File is one parsed repository property file; Path is relative to the
// repository root (properties/projects/opc/common.yaml).
type File struct {
	Path    string
	Content map[string]any
}

// Folders lists the repository folders whose files apply to the node at
// nodePath (its canonical path, /projects/p/environments/e/assets/a), most
// general first: properties, properties/projects/p, then one folder per
// further level of the path. A malformed path yields only the root.
func Folders(nodePath string) []string {
	out := []string{Root}
	parts := strings.Split(strings.Trim(nodePath, "/"), "/")
	if len(parts)%2 != 0 || parts[0] == "" {
		return out
	}
	dir := Root
	for i := 0; i < len(parts); i += 2 {
		dir += "/" + parts[i] + "/" + parts[i+1]
		out = append(out, dir)
	}
	return out
}

// Select picks from files (repository path -> content, as read below Root)
// the property files that apply to the node at nodePath and returns their
// paths in merge order: folder by folder from Folders, alphabetical within a
// folder. Only files directly in a folder count; files of other nodes' folders
// and files with other extensions are ignored.
func Select(files map[string][]byte, nodePath string) []string {
	rank := map[string]int{}
	for i, dir := range Folders(nodePath) {
		rank[dir] = i
	}
	var picked []string
	for p := range files {
		if _, ok := rank[path.Dir(p)]; ok && IsPropertyFile(p) {
			picked = append(picked, p)
		}
	}
	sort.Slice(picked, func(i, j int) bool {
		ri, rj := rank[path.Dir(picked[i])], rank[path.Dir(picked[j])]
		if ri != rj {
			return ri < rj
		}
		return picked[i] < picked[j]
	})
	return picked
}

// RepositoryFiles parses the files Select picks, in merge order. The first
// file that does not parse stops it with a *ParseError naming the file.
func RepositoryFiles(files map[string][]byte, nodePath string) ([]File, error) {
	paths := Select(files, nodePath)
	out := make([]File, 0, len(paths))
	for _, p := range paths {
		content, err := Parse(p, files[p])
		if err != nil {
			return nil, err
		}
		out = append(out, File{Path: p, Content: content})
	}
	return out, nil
}
