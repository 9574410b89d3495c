package model

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/gitops"
	"github.com/stewardhq/steward/pkg/converge"
	"github.com/stewardhq/steward/pkg/listquery"
)

// MintModel is one distinct rendered MintModel of an asset; SHA256 is the
// hex digest of the rendered bytes, unique per asset.
type MintModel struct {
	ID        string `gorm:"primaryKey"`
	AssetID   string
	Data      JSONMap
	SHA256    string `gorm:"column:sha256"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// TableName is the reference's plural.
func (MintModel) TableName() string { return "mintmodels" }

// MintModelHistory is one entry of an asset's MintModel history: written
// when a change runs with a MintModel that differs from the latest entry's.
type MintModelHistory struct {
	ID          string `gorm:"primaryKey"`
	AssetID     string
	MintmodelID string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// TableName keeps the reference's singular.
func (MintModelHistory) TableName() string { return "mintmodel_history" }

// mintModelHistoryChange links a change to the history entry it ran with.
type mintModelHistoryChange struct {
	MintmodelHistoryID string `gorm:"primaryKey"`
	ChangeID           string `gorm:"primaryKey"`
	CreatedAt          time.Time
}

func (mintModelHistoryChange) TableName() string { return "mintmodel_history_changes" }

// GeneratedMintModel is a MintModel rendered on request. When the asset has
// already stored the same content, MintModel is that row (Stored); otherwise
// it is an unsaved row with a fresh id.
type GeneratedMintModel struct {
	*MintModel
	Stored   bool
	Rendered *converge.Rendered
}

// GenerateMintModel renders the asset's MintModel from its template version's
// commit and its current converged properties, without storing it. An asset
// without a template, or whose template version has no MintModel template,
// is a 422 saying so; so is a template that fails (a missing key is named).
func (s *Store) GenerateMintModel(ctx context.Context, asset *Node) (*GeneratedMintModel, error) {
	tpl, _, src, err := s.AssetSource(ctx, asset)
	if err != nil {
		return nil, err
	}
	if tpl == nil {
		return nil, &steward.Error{Kind: steward.KindInvalid, Code: "no_template",
			Detail: fmt.Sprintf("asset %q has no template, so it has no MintModel; assign it a template version first", asset.Code)}
	}
	conv, err := s.ConvergedPropertiesAt(ctx, asset, src)
	if err != nil {
		return nil, err
	}
	r, err := s.RenderMintModel(ctx, tpl, src, conv.Data)
	if err != nil {
		return nil, err
	}
	out := &GeneratedMintModel{Rendered: r}
	var rows []MintModel
	if err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Where("asset_id = ? AND sha256 = ?", asset.ID, r.SHA256).Limit(1).Find(&rows).Error
	}); err != nil {
		return nil, err
	}
	if len(rows) == 1 {
		out.MintModel, out.Stored = &rows[0], true
		return out, nil
	}
	now := s.Now()
	out.MintModel = &MintModel{ID: NewID(), AssetID: asset.ID, Data: JSONMap(r.Data), SHA256: r.SHA256, CreatedAt: now, UpdatedAt: now}
	return out, nil
}

// RenderMintModel reads template tpl's MintModel template at src's commit and
// renders it with data.
func (s *Store) RenderMintModel(ctx context.Context, tpl *Template, src *RepositorySource, data JSONMap) (*converge.Rendered, error) {
	file := converge.MintModelPath(tpl.Code)
	source, err := s.Git.ReadFile(ctx, src.Remote, src.CommitSHA, file)
	if errors.Is(err, gitops.ErrFileNotFound) {
		return nil, &steward.Error{Kind: steward.KindInvalid, Code: "no_mintmodel", Meta: map[string]any{"file": file, "commit_sha": src.CommitSHA},
			Detail: fmt.Sprintf("%s has no MintModel: %s does not exist at commit %s", src.Label, file, short(src.CommitSHA))}
	}
	if err != nil {
		return nil, GitError(err, "")
	}
	r, err := converge.RenderMintModel(file, source, map[string]any(data))
	var re *converge.RenderError
	if errors.As(err, &re) {
		code, meta := "invalid_mintmodel", map[string]any{"file": re.File, "commit_sha": src.CommitSHA}
		if re.Line > 0 {
			meta["line"] = re.Line
		}
		if re.Key != "" {
			code, meta["key"] = "mintmodel_missing_key", re.Key
		}
		return nil, &steward.Error{Kind: steward.KindInvalid, Code: code, Meta: meta,
			Detail: fmt.Sprintf("the MintModel of %s cannot be rendered: %s", src.Label, re.Error())}
	}
	return r, err
}

// RecordMintModel stores the MintModel a change ran with, inside the
// change's transaction tx. A history entry is added only when r differs (by
// SHA-256) from the asset's latest entry; otherwise the change joins that
// entry. An asset's MintModels are distinct: returning to earlier content
// reuses its row. added reports whether a history entry was written.
func (s *Store) RecordMintModel(tx *gorm.DB, asset *Node, r *converge.Rendered, changeID string) (mm *MintModel, h *MintModelHistory, added bool, err error) {
	// Lock the asset so that concurrent changes on it see each other's
	// entries; SQLite serialises writers anyway.
	var locked Node
	if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Select("id").Where("id = ?", asset.ID).Take(&locked).Error; err != nil {
		return nil, nil, false, err
	}
	now := s.Now()
	var latest []MintModelHistory
	if err := tx.Where("asset_id = ?", asset.ID).Order("id DESC").Limit(1).Find(&latest).Error; err != nil {
		return nil, nil, false, err
	}
	var rows []MintModel
	if err := tx.Where("asset_id = ? AND sha256 = ?", asset.ID, r.SHA256).Limit(1).Find(&rows).Error; err != nil {
		return nil, nil, false, err
	}
	if len(rows) == 1 {
		mm = &rows[0]
	}
	if mm != nil && len(latest) == 1 && latest[0].MintmodelID == mm.ID {
		h = &latest[0]
	} else {
		if mm == nil {
			mm = &MintModel{ID: NewID(), AssetID: asset.ID, Data: JSONMap(r.Data), SHA256: r.SHA256, CreatedAt: now, UpdatedAt: now}
			if err := tx.Create(mm).Error; err != nil {
				return nil, nil, false, err
			}
		} else if err := tx.Model(mm).Update("updated_at", now).Error; err != nil {
			return nil, nil, false, err
		}
		h = &MintModelHistory{ID: NewID(), AssetID: asset.ID, MintmodelID: mm.ID, CreatedAt: now, UpdatedAt: now}
		if err := tx.Create(h).Error; err != nil {
			return nil, nil, false, err
		}
		added = true
	}
	if changeID != "" {
		link := &mintModelHistoryChange{MintmodelHistoryID: h.ID, ChangeID: changeID, CreatedAt: now}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(link).Error; err != nil {
			return nil, nil, false, err
		}
	}
	return mm, h, added, nil
}

// mintModelsQuery scopes MintModels to an asset.
func mintModelsQuery(db *gorm.DB, asset *Node) *gorm.DB {
	return db.Model(&MintModel{}).Where("asset_id = ?", asset.ID)
}

// MintModelFilters are the attributes a MintModel list may filter and sort by (attribute -> column).
var MintModelFilters = map[string]listquery.Field{
	"id": {Column: "id", Kind: listquery.UUID}, "sha256": {Column: "sha256"},
	"created_at": {Column: "created_at", Kind: listquery.Time}, "updated_at": {Column: "updated_at", Kind: listquery.Time},
}

// MintModelList is mintModelsQuery as a list source.
func (s *Store) MintModelList(asset *Node) Source[MintModel] {
	return NewSource[MintModel](s, "id", func(db *gorm.DB) *gorm.DB { return mintModelsQuery(db, asset) })
}

// mintModelHistoryQuery scopes MintModel history entries to an asset.
func mintModelHistoryQuery(db *gorm.DB, asset *Node) *gorm.DB {
	return db.Model(&MintModelHistory{}).Where("asset_id = ?", asset.ID)
}

// MintModelHistoryFilters are the attributes a MintModel history list may filter and sort by (attribute -> column).
var MintModelHistoryFilters = map[string]listquery.Field{
	"id": {Column: "id", Kind: listquery.UUID}, "mintmodel_id": {Column: "mintmodel_id", Kind: listquery.UUID},
	"created_at": {Column: "created_at", Kind: listquery.Time}, "updated_at": {Column: "updated_at", Kind: listquery.Time},
}

// MintModelHistoryList is mintModelHistoryQuery as a list source.
func (s *Store) MintModelHistoryList(asset *Node) Source[MintModelHistory] {
	return NewSource[MintModelHistory](s, "id", func(db *gorm.DB) *gorm.DB { return mintModelHistoryQuery(db, asset) })
}

// GetMintModel loads MintModel id of asset.
func (s *Store) GetMintModel(ctx context.Context, asset *Node, id string) (*MintModel, error) {
	id, ok := steward.ParseID(id)
	if !ok {
		return nil, steward.NotFound("mintmodel", id)
	}
	var m MintModel
	err := s.Read(ctx, func(db *gorm.DB) error { return mintModelsQuery(db, asset).Where("id = ?", id).Take(&m).Error })
	if ModelNotFound(err) {
		return nil, steward.NotFound("mintmodel", id)
	}
	return &m, err
}

// GetMintModelHistory loads history entry id of asset.
func (s *Store) GetMintModelHistory(ctx context.Context, asset *Node, id string) (*MintModelHistory, error) {
	id, ok := steward.ParseID(id)
	if !ok {
		return nil, steward.NotFound("mintmodel_history", id)
	}
	var h MintModelHistory
	err := s.Read(ctx, func(db *gorm.DB) error { return mintModelHistoryQuery(db, asset).Where("id = ?", id).Take(&h).Error })
	if ModelNotFound(err) {
		return nil, steward.NotFound("mintmodel_history", id)
	}
	return &h, err
}

// MintModelHistoryIDs returns the history entry ids of each MintModel, oldest first.
func (s *Store) MintModelHistoryIDs(ctx context.Context, mintmodelIDs []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(mintmodelIDs) == 0 {
		return out, nil
	}
	var rows []MintModelHistory
	err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Select("id", "mintmodel_id").Where("mintmodel_id IN ?", mintmodelIDs).Order("id").Find(&rows).Error
	})
	for _, h := range rows {
		out[h.MintmodelID] = append(out[h.MintmodelID], h.ID)
	}
	return out, err
}

// MintModelHistoryChangeIDs returns the ids of the changes that ran with
// each history entry, in the order they ran.
func (s *Store) MintModelHistoryChangeIDs(ctx context.Context, historyIDs []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(historyIDs) == 0 {
		return out, nil
	}
	var rows []mintModelHistoryChange
	err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Where("mintmodel_history_id IN ?", historyIDs).Order("created_at, change_id").Find(&rows).Error
	})
	for _, l := range rows {
		out[l.MintmodelHistoryID] = append(out[l.MintmodelHistoryID], l.ChangeID)
	}
	return out, err
}

// MintModelsByID loads MintModels by id, keyed by id.
func (s *Store) MintModelsByID(ctx context.Context, ids []string) (map[string]*MintModel, error) {
	out := make(map[string]*MintModel, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []MintModel
	if err := s.Read(ctx, func(db *gorm.DB) error { return db.Where("id IN ?", ids).Find(&rows).Error }); err != nil {
		return nil, err
	}
	for i := range rows {
		out[rows[i].ID] = &rows[i]
	}
	return out, nil
}

// AssetMintModelHistoryIDs returns the MintModel history ids of each asset, oldest
// first, keyed by asset id: one query for a whole page of nodes.
func (s *Store) AssetMintModelHistoryIDs(ctx context.Context, assetIDs []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(assetIDs) == 0 {
		return out, nil
	}
	var rows []MintModelHistory
	err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Select("id", "asset_id").Where("asset_id IN ?", assetIDs).Order("id").Find(&rows).Error
	})
	for _, h := range rows {
		out[h.AssetID] = append(out[h.AssetID], h.ID)
	}
	return out, err
}
