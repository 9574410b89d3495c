package model

// DefaultSettings is the settings document every node starts with.
func DefaultSettings() JSONMap {
	return JSONMap{
		"allow_parallel": map[string]any{
			"changes":               true,
			"runs_of_same_change":   false,
			"runs_of_same_workflow": false,
		},
	}
}
