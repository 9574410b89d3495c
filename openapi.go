package steward

import _ "embed"

// OpenAPI is openapi.yaml, the contract Steward serves at /api/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
