package wire

import (
	"net/url"
	"time"

	usher "github.com/usher-lm/usher"
)

// Paths of the administration endpoints.
const (
	PathInfo     = "/v1/admin/info"
	PathSettings = "/v1/admin/settings"
	PathReload   = "/v1/admin/reload"
	PathShutdown = "/v1/admin/shutdown"
	PathRestart  = "/v1/admin/restart"
	PathKick     = "/v1/admin/kick"
	PathBans     = "/v1/admin/bans"
	PathCluster  = "/v1/cluster"
	PathMetrics  = "/metrics"
)

// ServerInfo is the body of GET /v1/admin/info.
type ServerInfo struct {
	Version    string    `json:"version"`
	GoVersion  string    `json:"go_version"`
	StartedAt  time.Time `json:"started_at"`
	Uptime     string    `json:"uptime"`
	HardwareID string    `json:"hardware_id"`
	// HardwareKey is the hardware key holding the server's identity: its
	// serial and "(present)", "absent: " and why, or "none".
	HardwareKey string            `json:"hardware_key"`
	Hostname    string            `json:"hostname"`
	DataDir     string            `json:"data_dir"`
	Config      map[string]string `json:"config"` // the effective configuration
}

// Setting is one runtime setting. Source is "runtime" when a value set
// through the API is in force, else "config".
type Setting struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Source string `json:"source"`
}

// Change is one setting that changed.
type Change struct {
	Key string `json:"key"`
	Old string `json:"old"`
	New string `json:"new"`
}

// ReloadResult is the body of POST /v1/admin/reload: what changed live,
// and which changed keys take effect only after a restart.
type ReloadResult struct {
	Applied         []Change `json:"applied"`
	RestartRequired []Change `json:"restart_required"`
}

// KickRequest is the body of POST /v1/admin/kick. Every lease that matches
// all the filter fields given is kicked; All kicks every lease and takes
// no filter. Ban, a duration like "10m", also bans the user or host the
// filter names (on its feature, if it names one) for that long.
type KickRequest struct {
	LeaseID  string `json:"lease_id,omitempty"`
	User     string `json:"user,omitempty"`
	Host     string `json:"host,omitempty"`
	Feature  string `json:"feature,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	All      bool   `json:"all,omitempty"`
	Ban      string `json:"ban,omitempty"`
}

// KickResponse lists the leases kicked, and the ban set, if one was asked
// for.
type KickResponse struct {
	Kicked []string   `json:"kicked"`
	Ban    *usher.Ban `json:"ban,omitempty"`
}

// BanPath is the path of one ban: DELETE lifts it.
func BanPath(id string) string { return PathBans + "/" + url.PathEscape(id) }

// BansResponse is the body of GET /v1/admin/bans.
type BansResponse struct {
	Bans []usher.Ban `json:"bans"`
}

// SettingsRequest is the body of PUT or PATCH /v1/admin/settings: values
// to set, and keys to reset to the configuration's value.
type SettingsRequest struct {
	Set   map[string]string `json:"set,omitempty"`
	Reset []string          `json:"reset,omitempty"`
}

// SettingsResponse is the body of the settings endpoints.
type SettingsResponse struct {
	Settings []Setting `json:"settings"`
	Changed  []Change  `json:"changed,omitempty"`
}

// StatusResponse is the body of an answer that only says what happens, as
// POST /v1/admin/shutdown's.
type StatusResponse struct {
	Status string `json:"status"`
}

// ClusterStatus is the body of GET /v1/cluster: who decides, and the
// health of every etcd member as seen from the answering node.
type ClusterStatus struct {
	Cluster string `json:"cluster"`
	// Node is the node that answered.
	Node string `json:"node"`
	// Decider is the node that decides checkouts now, and DeciderURL
	// where it serves; both are empty while an election is under way.
	Decider    string `json:"decider"`
	DeciderURL string `json:"decider_url,omitempty"`
	// EtcdLeader is the name of the etcd member leading raft.
	EtcdLeader string          `json:"etcd_leader"`
	Members    []ClusterMember `json:"members"`
	// Error, when set, says why the answering node could not read the
	// cluster's state through a majority (typically: most members are
	// down); Members then come from its own member's view.
	Error string `json:"error,omitempty"`
}

// ClusterMember is one etcd member as the status shows it.
type ClusterMember struct {
	Name       string   `json:"name"`
	ID         string   `json:"id"`
	PeerURLs   []string `json:"peer_urls"`
	ClientURLs []string `json:"client_urls"`
	Healthy    bool     `json:"healthy"`
	Leader     bool     `json:"leader"`
	RaftTerm   uint64   `json:"raft_term,omitempty"`
	RaftIndex  uint64   `json:"raft_index,omitempty"`
	// RaftApplied is the last raft entry applied to the member's store.
	RaftApplied uint64 `json:"raft_applied_index,omitempty"`
	// Lag is how many raft entries the member is behind the most advanced
	// member.
	Lag   uint64 `json:"lag"`
	Error string `json:"error,omitempty"`
}
