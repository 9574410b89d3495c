package engine

import (
	"io/fs"
	"os"
	"path/filepath"
)

// A sandboxed step runs as an unprivileged user, so the folders it may
// write (its checkout, step folder and home) are handed to that user; the
// rest of the work dir stays the server's and unreadable to it.

// ownedDir makes dir (and missing parents) and gives it to the step's user.
func (e *Engine) ownedDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if uid, gid, ok := e.Sandbox.Owner(); ok {
		return os.Lchown(dir, uid, gid)
	}
	return nil
}

// giveTree hands a freshly materialised tree to the step's user, before
// any step can reach it.
func (e *Engine) giveTree(dir string) error {
	uid, gid, ok := e.Sandbox.Owner()
	if !ok {
		return nil
	}
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// openIn opens dir, a folder below base given relative to it, as a root:
// base must be a folder the step cannot replace (its parent is the
// server's), and dir is resolved inside it, so a link the step put in its
// place cannot lead outside base.
func openIn(base, dir string) (*os.Root, error) {
	root, err := os.OpenRoot(base)
	if err != nil {
		return nil, err
	}
	if dir == "" || dir == "." {
		return root, nil
	}
	defer root.Close()
	return root.OpenRoot(dir)
}

// writeStepFile writes a file the engine hands the step into its step
// folder (which the step cannot replace: its parent is the server's).
func (e *Engine) writeStepFile(stepDir, name string, data []byte) error {
	root, err := os.OpenRoot(stepDir)
	if err != nil {
		return err
	}
	defer root.Close()
	return e.writeOwned(root, name, data, 0o600)
}

// writeOwned writes name (a relative path) under root as the step's file.
// root's folder belongs to the step, so name is resolved inside it: links
// the step left cannot redirect the write.
func (e *Engine) writeOwned(root *os.Root, name string, data []byte, mode os.FileMode) error {
	uid, gid, own := e.Sandbox.Owner()
	if parent := filepath.Dir(name); parent != "." {
		if err := root.MkdirAll(parent, 0o755); err != nil {
			return err
		}
		if own {
			for p := parent; p != "."; p = filepath.Dir(p) {
				if err := root.Lchown(p, uid, gid); err != nil {
					return err
				}
			}
		}
	}
	_ = root.Remove(name) // replaced, never written through
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if own {
		if err := f.Chown(uid, gid); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}
