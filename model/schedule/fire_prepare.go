package schedule

import (
	"context"
	"sync"

	"gorm.io/gorm"

	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
)

// prepare does every read the run of one firing of a needs (Git included),
// writing nothing: the change (or workflow run) is inserted later, in the
// firing's transaction.
func (s *Store) prepare(ctx context.Context, actor *model.Actor, node *model.Node, a *Activity, cache *prepCache) (Prepared, error) {
	if a.Kind == KindWorkflow {
		if s.Workflows == nil {
			return nil, errWorkflowsUnavailable()
		}
		return s.Workflows.PrepareWorkflowRun(ctx, actor, node, a)
	}
	base, err := cache.get(cacheKey(node, a), func() (*run.PreparedChange, error) {
		return s.PrepareChange(ctx, actor, node, run.ChangeInput{Action: *a.Action, GitRemoteName: a.GitRemoteName,
			GitRev: a.GitRev, Scheduled: true})
	})
	if err != nil {
		return nil, err
	}
	return preparedChange{base.Again(actor, a.Metadata, a.PropertyOverrides)}, nil
}

// prepCache keeps, for one RunDue, the change each (node, action, remote,
// rev) prepares to: activities due at the same instant that would make the
// same change read Git (resolve, prove access, read actions.yaml) once, and
// each gets a copy with its own ids, metadata and overrides.
type prepCache struct {
	mu       sync.Mutex
	entries  map[string]*prepEntry
	nodes    map[string]*model.Node
	settings map[string]*model.Settings // allow_parallel by node id
}

func newPrepCache() *prepCache {
	return &prepCache{entries: map[string]*prepEntry{}, nodes: map[string]*model.Node{}, settings: map[string]*model.Settings{}}
}

type prepEntry struct {
	once sync.Once
	p    *run.PreparedChange
	err  error
}

// node loads node id once per RunDue.
func (c *prepCache) node(ctx context.Context, s *Store, id string) (*model.Node, error) {
	c.mu.Lock()
	n := c.nodes[id]
	c.mu.Unlock()
	if n != nil {
		return n, nil
	}
	var loaded model.Node
	if err := s.Read(ctx, func(db *gorm.DB) error { return db.Where("id = ?", id).Take(&loaded).Error }); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.nodes[id] = &loaded
	c.mu.Unlock()
	return &loaded, nil
}

// parallel is whether node's allow_parallel lets a's runs overlap, read
// once per node per RunDue: the overlap rule of every activity of a node
// due at once reads one setting, not one each.
func (c *prepCache) parallel(ctx context.Context, s *Store, a *Activity, node *model.Node) (bool, error) {
	c.mu.Lock()
	set := c.settings[node.ID]
	c.mu.Unlock()
	if set == nil {
		var loaded model.Settings
		if err := s.Read(ctx, func(db *gorm.DB) (err error) { loaded, err = run.ParallelSettings(db, node); return err }); err != nil {
			return false, err
		}
		set = &loaded
		c.mu.Lock()
		c.settings[node.ID] = set
		c.mu.Unlock()
	}
	if a.Kind == KindWorkflow {
		return set.AllowParallelRunsOfSameWorkflow, nil
	}
	return set.AllowParallelRunsOfSameChange, nil
}

func cacheKey(node *model.Node, a *Activity) string {
	deref := func(p *string) string {
		if p == nil {
			return "\x00"
		}
		return *p
	}
	return node.ID + "\x00" + deref(a.Action) + "\x00" + deref(a.GitRemoteName) + "\x00" + deref(a.GitRev)
}

func (c *prepCache) get(key string, prepare func() (*run.PreparedChange, error)) (*run.PreparedChange, error) {
	c.mu.Lock()
	e := c.entries[key]
	if e == nil {
		e = &prepEntry{}
		c.entries[key] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.p, e.err = prepare() })
	return e.p, e.err
}

// preparedChange is a run.PreparedChange as a Prepared.
type preparedChange struct{ *run.PreparedChange }

func (p preparedChange) RunID() string { return p.Change.ID }
func (p preparedChange) CommitSHA() string {
	if p.Change.CommitSHA == nil {
		return ""
	}
	return *p.Change.CommitSHA
}

// commitUsed reports whether the activity's action already ran at sha on
// node: before its first firing, new_commits_only fires only for a commit
// that was never used there.
func (s *Store) commitUsed(ctx context.Context, a *Activity, node *model.Node, sha string) (bool, error) {
	if a.Kind != KindChange {
		return false, nil
	}
	var n int64
	err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Model(&run.Change{}).Where("node_id = ? AND action = ? AND commit_sha = ?", node.ID, *a.Action, sha).Count(&n).Error
	})
	return n > 0, err
}
