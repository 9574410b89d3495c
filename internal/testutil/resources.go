package testutil

// The resources Steward renders, as a Go JSON:API client (google/jsonapi
// v1.0.0, see client.go) declares them. Every attribute a struct declares must
// be in the document (checkDecodable), unless tagged omitempty; a pointer
// field is one the document may hold as null. Timestamps are strings, so a
// test sees the wire format (UTC, microseconds); free-form objects are
// map[string]any. Relationships whose members differ in type (a project's
// children, parents, an event's source) are not declared: the library cannot
// type them. Nor is a back-reference that would close a cycle through
// included resources (a step names its children, not its parent).

// Project is a project node.
type Project struct {
	ID          string  `jsonapi:"primary,project"`
	Code        string  `jsonapi:"attr,code"`
	Name        string  `jsonapi:"attr,name"`
	Description *string `jsonapi:"attr,description"`
	Archived    bool    `jsonapi:"attr,archived"`
	ProjectType string  `jsonapi:"attr,project_type"`

	Properties *Properties `jsonapi:"relation,properties"`
	Settings   *Settings   `jsonapi:"relation,settings"`
	Bookmarks  []*Bookmark `jsonapi:"relation,bookmarks"`
}

// Environment is an environment node; its children are assets only, and its
// parents its project only.
type Environment struct {
	ID          string  `jsonapi:"primary,environment"`
	Code        string  `jsonapi:"attr,code"`
	Name        string  `jsonapi:"attr,name"`
	Description *string `jsonapi:"attr,description"`
	Archived    bool    `jsonapi:"attr,archived"`

	Project    *Project    `jsonapi:"relation,project"`
	Parents    []*Project  `jsonapi:"relation,parents"`
	Children   []*Asset    `jsonapi:"relation,children"`
	Properties *Properties `jsonapi:"relation,properties"`
	Settings   *Settings   `jsonapi:"relation,settings"`
	Bookmarks  []*Bookmark `jsonapi:"relation,bookmarks"`
}

// Asset is an asset node, below a project or an environment.
type Asset struct {
	ID             string   `jsonapi:"primary,asset"`
	Code           string   `jsonapi:"attr,code"`
	Name           string   `jsonapi:"attr,name"`
	Description    *string  `jsonapi:"attr,description"`
	Archived       bool     `jsonapi:"attr,archived"`
	Actions        []Action `jsonapi:"attr,actions"`
	MintmodelValid bool     `jsonapi:"attr,mintmodel_valid"`

	Project          *Project            `jsonapi:"relation,project"`
	Template         *Template           `jsonapi:"relation,template"`
	TemplateVersion  *TemplateVersion    `jsonapi:"relation,template_version"`
	MintmodelHistory []*MintmodelHistory `jsonapi:"relation,mintmodel_history"`
	Properties       *Properties         `jsonapi:"relation,properties"`
	Settings         *Settings           `jsonapi:"relation,settings"`
	Bookmarks        []*Bookmark         `jsonapi:"relation,bookmarks"`
}

// Action is one action of a template version or an asset (a nested object).
type Action struct {
	Name        string `jsonapi:"attr,name"`
	Description string `jsonapi:"attr,description"`
}

// Properties is a node's properties document.
type Properties struct {
	ID        string         `jsonapi:"primary,properties"`
	Data      map[string]any `jsonapi:"attr,data"`
	Version   int            `jsonapi:"attr,version"`
	CreatedAt string         `jsonapi:"attr,created_at"`
}

// Settings is a node's settings document.
type Settings struct {
	ID        string         `jsonapi:"primary,settings"`
	Data      map[string]any `jsonapi:"attr,data"`
	Version   int            `jsonapi:"attr,version"`
	CreatedAt string         `jsonapi:"attr,created_at"`
}

// PropertiesVersion is one stored version of a properties document.
type PropertiesVersion struct {
	ID        string         `jsonapi:"primary,properties_version"`
	Data      map[string]any `jsonapi:"attr,data"`
	Version   int            `jsonapi:"attr,version"`
	CreatedAt string         `jsonapi:"attr,created_at"`
	OwnerType string         `jsonapi:"attr,owner_type"`

	Properties *Properties `jsonapi:"relation,properties"`
}

// SettingsVersion is one stored version of a settings document; it has no
// owner_type.
type SettingsVersion struct {
	ID        string         `jsonapi:"primary,settings_version"`
	Data      map[string]any `jsonapi:"attr,data"`
	Version   int            `jsonapi:"attr,version"`
	CreatedAt string         `jsonapi:"attr,created_at"`
	OwnerType *string        `jsonapi:"attr,owner_type,omitempty"`

	Settings *Settings `jsonapi:"relation,settings"`
}

// ConvergedProperties is a node's merged properties.
type ConvergedProperties struct {
	ID   string         `jsonapi:"primary,converged_properties"`
	Data map[string]any `jsonapi:"attr,data"`

	RepositoryProperties []*RepositoryProperties `jsonapi:"relation,repository_properties"`
	Properties           []*Properties           `jsonapi:"relation,properties"`
}

// RepositoryProperties is one properties file of a repository.
type RepositoryProperties struct {
	ID      string         `jsonapi:"primary,repository_properties"`
	Content map[string]any `jsonapi:"attr,content"`
}

// Bookmark is a link kept on a node.
type Bookmark struct {
	ID          string `jsonapi:"primary,bookmark"`
	URL         string `jsonapi:"attr,url"`
	Description string `jsonapi:"attr,description"`
	CreatedBy   string `jsonapi:"attr,created_by"`
	CreatedAt   string `jsonapi:"attr,created_at"`
	UpdatedAt   string `jsonapi:"attr,updated_at"`
}

// GitRemote is a project's Git remote; credentials read "{{hidden}}" or null.
type GitRemote struct {
	ID         string  `jsonapi:"primary,git_remote"`
	Name       string  `jsonapi:"attr,name"`
	URL        string  `jsonapi:"attr,url"`
	Archived   bool    `jsonapi:"attr,archived"`
	Disabled   bool    `jsonapi:"attr,disabled"`
	CreatedAt  string  `jsonapi:"attr,created_at"`
	UpdatedAt  string  `jsonapi:"attr,updated_at"`
	User       *string `jsonapi:"attr,user"`
	Password   *string `jsonapi:"attr,password"`
	SSHKeyData *string `jsonapi:"attr,ssh_key_data"`
}

// Template is a project's asset template: a Git remote with a code.
type Template struct {
	ID          string  `jsonapi:"primary,template"`
	Code        string  `jsonapi:"attr,code"`
	Name        string  `jsonapi:"attr,name"`
	Description *string `jsonapi:"attr,description"`
	URL         string  `jsonapi:"attr,url"`
	Archived    bool    `jsonapi:"attr,archived"`
	Disabled    bool    `jsonapi:"attr,disabled"`
	CreatedAt   string  `jsonapi:"attr,created_at"`
	UpdatedAt   string  `jsonapi:"attr,updated_at"`
	User        *string `jsonapi:"attr,user"`
	Password    *string `jsonapi:"attr,password"`
	SSHKeyData  *string `jsonapi:"attr,ssh_key_data"`

	TemplateVersions []*TemplateVersion `jsonapi:"relation,template_versions"`
}

// TemplateVersion is a template at a rev.
type TemplateVersion struct {
	ID           string   `jsonapi:"primary,template_version"`
	Version      string   `jsonapi:"attr,version"`
	Description  string   `jsonapi:"attr,description"`
	State        string   `jsonapi:"attr,state"`
	CreatedBy    string   `jsonapi:"attr,created_by"`
	Archived     bool     `jsonapi:"attr,archived"`
	HasMintmodel *bool    `jsonapi:"attr,has_mintmodel"`
	CreatedAt    string   `jsonapi:"attr,created_at"`
	UpdatedAt    string   `jsonapi:"attr,updated_at"`
	GitRev       string   `jsonapi:"attr,git_rev"`
	CommitSHA    *string  `jsonapi:"attr,commit_sha"`
	Actions      []Action `jsonapi:"attr,actions"`
}

// TemplateVersionHistory is one period an asset used a template version.
type TemplateVersionHistory struct {
	ID         string  `jsonapi:"primary,template_version_history"`
	ActiveFrom string  `jsonapi:"attr,active_from"`
	ActiveTo   *string `jsonapi:"attr,active_to"`

	Owner           *Asset           `jsonapi:"relation,owner"`
	TemplateVersion *TemplateVersion `jsonapi:"relation,template_version"`
}

// Mintmodel is a rendered MintModel of an asset.
type Mintmodel struct {
	ID        string         `jsonapi:"primary,mintmodel"`
	Data      map[string]any `jsonapi:"attr,data"`
	SHA256    string         `jsonapi:"attr,sha256"`
	CreatedAt string         `jsonapi:"attr,created_at"`
	UpdatedAt string         `jsonapi:"attr,updated_at"`

	MintmodelHistory []*MintmodelHistory `jsonapi:"relation,mintmodel_history"`
}

// MintmodelHistory is one MintModel an asset's changes used.
type MintmodelHistory struct {
	ID        string `jsonapi:"primary,mintmodel_history"`
	CreatedAt string `jsonapi:"attr,created_at"`
	UpdatedAt string `jsonapi:"attr,updated_at"`

	Mintmodel       *Mintmodel `jsonapi:"relation,mintmodel"`
	OpschainChanges []*Change  `jsonapi:"relation,opschain_changes"`
}

// Change is a run of an action on a node.
type Change struct {
	ID                   string         `jsonapi:"primary,change"`
	CreatedBy            string         `jsonapi:"attr,created_by"`
	Name                 *string        `jsonapi:"attr,name"`
	Action               string         `jsonapi:"attr,action"`
	InitialStepTree      *string        `jsonapi:"attr,initial_step_tree"`
	Metadata             map[string]any `jsonapi:"attr,metadata"`
	PropertyOverrides    map[string]any `jsonapi:"attr,property_overrides"`
	Scheduled            bool           `jsonapi:"attr,scheduled"`
	ApprovedBy           []StepActor    `jsonapi:"attr,approved_by"`
	RejectedBy           []StepActor    `jsonapi:"attr,rejected_by"`
	StatusCode           string         `jsonapi:"attr,status_code"`
	CreatedAt            string         `jsonapi:"attr,created_at"`
	StartedAt            *string        `jsonapi:"attr,started_at"`
	FinishedAt           *string        `jsonapi:"attr,finished_at"`
	UpdatedAt            string         `jsonapi:"attr,updated_at"`
	AssetName            *string        `jsonapi:"attr,asset_name"`
	EnvironmentName      string         `jsonapi:"attr,environment_name"`
	ProjectName          string         `jsonapi:"attr,project_name"`
	GitRemoteName        string         `jsonapi:"attr,git_remote_name"`
	GitRev               string         `jsonapi:"attr,git_rev"`
	CommitSHA            *string        `jsonapi:"attr,commit_sha"`
	RequiresApprovalFrom *string        `jsonapi:"attr,requires_approval_from"`

	Steps           []*Step          `jsonapi:"relation,steps"`
	RootStep        *Step            `jsonapi:"relation,root_step"`
	TemplateVersion *TemplateVersion `jsonapi:"relation,template_version"`
	Mintmodel       *Mintmodel       `jsonapi:"relation,mintmodel"`
}

// StepActor is one approved_by, rejected_by or continued_by entry.
type StepActor struct {
	Username  string  `jsonapi:"attr,username"`
	Message   *string `jsonapi:"attr,message"`
	CreatedAt string  `jsonapi:"attr,created_at"`
}

// Step is one step of a change's tree.
type Step struct {
	ID                     string      `jsonapi:"primary,step"`
	ApprovedBy             []StepActor `jsonapi:"attr,approved_by"`
	RejectedBy             []StepActor `jsonapi:"attr,rejected_by"`
	ContinuedBy            []StepActor `jsonapi:"attr,continued_by"`
	RequiresApprovalFrom   *string     `jsonapi:"attr,requires_approval_from"`
	Action                 string      `jsonapi:"attr,action"`
	Name                   *string     `jsonapi:"attr,name"`
	StepType               string      `jsonapi:"attr,step_type"`
	ChildExecutionStrategy string      `jsonapi:"attr,child_execution_strategy"`
	ChangeID               string      `jsonapi:"attr,change_id"`
	SkipOnRetry            bool        `jsonapi:"attr,skip_on_retry"`
	CreatedAt              string      `jsonapi:"attr,created_at"`
	StartedAt              *string     `jsonapi:"attr,started_at"`
	FinishedAt             *string     `jsonapi:"attr,finished_at"`
	UpdatedAt              string      `jsonapi:"attr,updated_at"`
	StatusCode             string      `jsonapi:"attr,status_code"`

	Children           []*Step              `jsonapi:"relation,children"`
	Change             *Change              `jsonapi:"relation,change"`
	PropertiesVersions []*PropertiesVersion `jsonapi:"relation,properties_versions"`
}

// LogLine is one line a step wrote; its id is its sequence number.
type LogLine struct {
	ID       string `jsonapi:"primary,log_line"`
	ChangeID string `jsonapi:"attr,change_id"`
	StepID   string `jsonapi:"attr,step_id"`
	Message  string `jsonapi:"attr,message"`
	LoggedAt string `jsonapi:"attr,logged_at"`
}

// Event is an audit event's reserved attributes; a test reading custom
// attributes declares its own struct with their keys (google/jsonapi reads
// declared keys only).
type Event struct {
	ID        string `jsonapi:"primary,event"`
	Type      string `jsonapi:"attr,type"`
	Username  string `jsonapi:"attr,username"`
	System    bool   `jsonapi:"attr,system"`
	CreatedAt string `jsonapi:"attr,created_at"`
}

// User is a user account.
type User struct {
	ID           string   `jsonapi:"primary,user"`
	Username     string   `jsonapi:"attr,username"`
	Groupnames   []string `jsonapi:"attr,groupnames"`
	AuthProvider string   `jsonapi:"attr,auth_provider"`
	CreatedAt    string   `jsonapi:"attr,created_at"`
	UpdatedAt    string   `jsonapi:"attr,updated_at"`
}

// Group is a group of users.
type Group struct {
	ID             string   `jsonapi:"primary,group"`
	CN             string   `jsonapi:"attr,cn"`
	AlternativeCNs []string `jsonapi:"attr,alternative_cns"`
}

// APIToken is an API token; Token (the secret) is only in the response to
// the POST that created it.
type APIToken struct {
	ID          string  `jsonapi:"primary,api_token"`
	Name        string  `jsonapi:"attr,name"`
	Username    string  `jsonapi:"attr,username"`
	TokenPrefix string  `jsonapi:"attr,token_prefix"`
	CreatedAt   string  `jsonapi:"attr,created_at"`
	LastUsedAt  *string `jsonapi:"attr,last_used_at"`
	ExpiresAt   *string `jsonapi:"attr,expires_at"`
	RevokedAt   *string `jsonapi:"attr,revoked_at"`
	Token       string  `jsonapi:"attr,token,omitempty"`
}

// Info is GET /api/info.
type Info struct {
	ID            string `jsonapi:"primary,info"`
	Version       string `jsonapi:"attr,version"`
	APIVersion    string `jsonapi:"attr,api_version"`
	DBVersion     string `jsonapi:"attr,db_version"`
	RunnerImage   string `jsonapi:"attr,runner_image"`
	LDAPAvailable bool   `jsonapi:"attr,ldap_available?"`
}

// WorkflowRun is a run of a workflow version. Its steps differ in type, so
// they are not declared (see the package comment).
type WorkflowRun struct {
	ID          string         `jsonapi:"primary,workflow_run"`
	StepTree    map[string]any `jsonapi:"attr,step_tree"`
	Scheduled   bool           `jsonapi:"attr,scheduled"`
	Metadata    map[string]any `jsonapi:"attr,metadata"`
	CreatedBy   string         `jsonapi:"attr,created_by"`
	StatusCode  string         `jsonapi:"attr,status_code"`
	CreatedAt   string         `jsonapi:"attr,created_at"`
	StartedAt   *string        `jsonapi:"attr,started_at"`
	FinishedAt  *string        `jsonapi:"attr,finished_at"`
	UpdatedAt   string         `jsonapi:"attr,updated_at"`
	ProjectName string         `jsonapi:"attr,project_name"`
}

// WorkflowWaitStep is a wait or approval step of a run.
type WorkflowWaitStep struct {
	ID                   string      `jsonapi:"primary,workflow_wait_step"`
	LockVersion          int         `jsonapi:"attr,lock_version"`
	CreatedBy            string      `jsonapi:"attr,created_by"`
	Name                 string      `jsonapi:"attr,name"`
	StatusCode           string      `jsonapi:"attr,status_code"`
	SkipOnRetry          bool        `jsonapi:"attr,skip_on_retry"`
	ApprovedBy           []StepActor `jsonapi:"attr,approved_by"`
	RejectedBy           []StepActor `jsonapi:"attr,rejected_by"`
	ContinuedBy          []StepActor `jsonapi:"attr,continued_by"`
	RequiresApprovalFrom *string     `jsonapi:"attr,requires_approval_from"`
	CreatedAt            string      `jsonapi:"attr,created_at"`
	StartedAt            *string     `jsonapi:"attr,started_at"`
	FinishedAt           *string     `jsonapi:"attr,finished_at"`
	UpdatedAt            string      `jsonapi:"attr,updated_at"`
}
