package cluster

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Status is the state of a cluster as one node sees it.
type Status struct {
	Cluster string
	Node    string // the node that answered
	// Decider is the node that decides checkouts now; zero while an
	// election is under way.
	Decider    Peer
	EtcdLeader string // the name of the etcd member leading raft
	Members    []MemberStatus
	// Error, when set, says why the node could not read the cluster's
	// state through a majority; Members then come from its own member's
	// view.
	Error string
}

// MemberStatus is one etcd member as the status shows it.
type MemberStatus struct {
	Name, ID             string
	PeerURLs, ClientURLs []string
	Healthy, Leader      bool
	RaftTerm, RaftIndex  uint64
	RaftApplied          uint64 // the last raft entry applied to the member's store
	Lag                  uint64 // how many raft entries it is behind the most advanced member
	Error                string
}

// Status reports that this single node decides; it has no etcd member.
func (l *Local) Status(context.Context) (Status, error) {
	return Status{Node: l.self.Node, Decider: l.self, Members: []MemberStatus{}}, nil
}

// Status reports who decides and the health of every etcd member, each
// asked directly at its client URL.
func (e *Election) Status(ctx context.Context) (Status, error) {
	st := Status{Cluster: e.cfg.Cluster, Node: e.cfg.Self.Node, Members: []MemberStatus{}}
	// Without a majority, linearizable reads wait in vain: an admin
	// still needs to see which members are down, so the list then comes
	// from the member this node talks to.
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	v, ok, err := e.Decider(qctx)
	if err != nil {
		st.Error = fmt.Sprintf("cannot read the cluster's state through a majority of the etcd members (%v): check that most members are up", err)
	} else if ok {
		st.Decider = v
	}
	var ml *clientv3.MemberListResponse
	if err == nil {
		ml, err = e.cfg.Client.MemberList(qctx)
	}
	if err != nil {
		lctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if ml, err = e.cfg.Client.MemberList(lctx, clientv3.WithSerializable()); err != nil {
			return st, err
		}
		if st.Error == "" {
			st.Error = "the member list comes from one member's own view: no majority answered"
		}
	}
	st.Members = make([]MemberStatus, len(ml.Members))
	leaders := make([]uint64, len(ml.Members))
	var wg sync.WaitGroup
	for i, m := range ml.Members {
		st.Members[i] = MemberStatus{Name: m.Name, ID: fmt.Sprintf("%x", m.ID), PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs}
		if len(m.ClientURLs) == 0 {
			st.Members[i].Error = "the member has not started yet"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			resp, err := e.cfg.Client.Status(sctx, m.ClientURLs[0])
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
