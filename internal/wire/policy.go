package wire

import usher "github.com/usher-lm/usher"

// Paths of the policy endpoints.
const (
	PathPolicy      = "/v1/policy"
	PathPolicyCheck = "/v1/policy/check"
)

// Where the policy in force came from, as PolicyResponse.Source says.
const (
	PolicySourceNone = "none" // no policy: every checkout is decided by seats alone
	PolicySourceFile = "file" // policy_file, as read at start or on reload
	PolicySourceAPI  = "api"  // PUT /v1/policy
)

// PolicyResponse is the body of GET and PUT /v1/policy: the policy in
// force, as its TOML text, where it came from, and its rules by name.
type PolicyResponse struct {
	Policy string   `json:"policy"`
	Source string   `json:"source"`
	Rules  []string `json:"rules"`
	// Added and Removed are, for PUT, the rules the change added and
	// removed (a changed rule is in both, with its old and new value).
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
}

// PolicyCheckRequest is the body of POST /v1/policy/check: a policy, as
// TOML text, to replay against the leases held now and the checkouts
// recorded in the last Since (a duration such as "24h"; default "24h").
type PolicyCheckRequest struct {
	Policy string `json:"policy"`
	Since  string `json:"since,omitempty"`
}

// PolicyCheckResponse is what a dry run found: every checkout the policy
// would have refused, oldest first, and how many it replayed.
type PolicyCheckResponse struct {
	Checked int                  `json:"checked"`
	Denials []usher.PolicyDenial `json:"denials"`
}
