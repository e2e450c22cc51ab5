package cluster

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/usher-lm/usher/internal/httpapi"
)

// Status reports who decides and the health of every etcd member, each
// asked directly at its client URL.
func (n *Node) Status(ctx context.Context) (httpapi.ClusterStatus, error) {
	st := httpapi.ClusterStatus{Cluster: n.cfg.Cluster, Node: n.cfg.NodeName, Members: []httpapi.ClusterMember{}}
	v, ok, err := n.decider(ctx)
	if err != nil {
		return st, err
	}
	if ok {
		st.Decider, st.DeciderURL = v.Node, v.URL
	}
	ml, err := n.cfg.Client.MemberList(ctx)
	if err != nil {
		return st, err
	}
	st.Members = make([]httpapi.ClusterMember, len(ml.Members))
	leaders := make([]uint64, len(ml.Members))
	var wg sync.WaitGroup
	for i, m := range ml.Members {
		st.Members[i] = httpapi.ClusterMember{Name: m.Name, ID: fmt.Sprintf("%x", m.ID), PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs}
		if len(m.ClientURLs) == 0 {
			st.Members[i].Error = "the member has not started yet"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			resp, err := n.cfg.Client.Status(sctx, m.ClientURLs[0])
			cm := &st.Members[i]
			if err != nil {
				cm.Error = err.Error()
				return
			}
			cm.RaftTerm, cm.RaftIndex, cm.RaftApplied = resp.RaftTerm, resp.RaftIndex, resp.RaftAppliedIndex
			cm.Healthy = resp.Leader != 0 && len(resp.Errors) == 0
			if len(resp.Errors) > 0 {
				cm.Error = fmt.Sprint(resp.Errors)
			}
			leaders[i] = resp.Leader
		}()
	}
	wg.Wait()
	var top, leader uint64
	for i, cm := range st.Members {
		top = max(top, cm.RaftIndex)
		if leaders[i] != 0 {
			leader = leaders[i]
		}
	}
	for i := range st.Members {
		cm := &st.Members[i]
		if cm.RaftIndex > 0 {
			cm.Lag = top - cm.RaftIndex
		}
		if leader != 0 && ml.Members[i].ID == leader {
			cm.Leader = true
			st.EtcdLeader = cm.Name
		}
	}
	sort.Slice(st.Members, func(i, j int) bool { return st.Members[i].Name < st.Members[j].Name })
	return st, nil
}
