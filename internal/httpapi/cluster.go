package httpapi

import (
	"context"
	"net/http"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/wire"
)

// ClusterSource reports the state of the cluster as this node sees it.
type ClusterSource interface {
	ClusterStatus(ctx context.Context) (wire.ClusterStatus, error)
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
