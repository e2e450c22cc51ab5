package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	usher "github.com/usher-lm/usher"
)

// ClusterSource reports the state of the cluster as this node sees it.
type ClusterSource interface {
	ClusterStatus(ctx context.Context) (ClusterStatus, error)
}

func (s *Server) handleCluster(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	st, err := s.cluster.ClusterStatus(ctx)
	if err != nil {
		s.error(w, r, usher.Errorf(usher.EUnavailable, "cannot read the cluster's state from etcd (%v): check that a majority of the etcd members is up", err))
		return
	}
	writeJSON(w, http.StatusOK, st)
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

// ClusterStatus returns the cluster's status (admin).
func (c *Client) ClusterStatus(ctx context.Context) (ClusterStatus, error) {
	var out ClusterStatus
	_, err := c.doJSON(ctx, http.MethodGet, "/v1/cluster", nil, &out)
	return out, err
}

// WriteError writes err as the API's JSON error body, for handlers that
// wrap a Server (such as the cluster's forwarding handler).
func WriteError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	writeError(w, r, logger, err)
}

// WriteJSON writes v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }
