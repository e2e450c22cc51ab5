package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// A node whose disk was lost (or replaced) starts with an empty etcd
// directory while the cluster still lists it as a member that ran before.
// etcd refuses to bootstrap such a member again; the standard way back is
// to remove the old member and add it anew, then join as an existing
// member. StartMember does that by itself when it can tell it is the case:
// its directory holds no data, a peer answers, and the member of its name
// has published client URLs (it has run). A member that is merely late to
// a new cluster's first start has published nothing and bootstraps as
// usual.

// peerMember is a member as etcd's peer endpoint /members lists it.
type peerMember struct {
	ID         uint64   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
}

// hasData reports whether dir holds an etcd member's data.
func hasData(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "member"))
	return err == nil
}

// peerMembers asks the peers for the cluster's members; the first answer
// counts. It returns nil when none answers.
func peerMembers(ctx context.Context, cfg MemberConfig) []peerMember {
	hc := &http.Client{Timeout: time.Second}
	for name, u := range cfg.Peers {
		if name == cfg.Name {
			continue
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(u, "/")+"/members", nil)
		if err != nil {
			continue
		}
		resp, err := hc.Do(req)
		if err != nil {
			continue
		}
		var ms []peerMember
		err = json.NewDecoder(resp.Body).Decode(&ms)
		resp.Body.Close()
		if err == nil && resp.StatusCode == http.StatusOK && len(ms) > 0 {
			return ms
		}
	}
	return nil
}

// rejoin replaces this member in its cluster if it lost its data (see
// above) and returns the initial cluster to join as an existing member,
// or "" to bootstrap as usual. Each step can be taken again: a node that
// failed halfway picks up where it stopped at its next start.
func rejoin(ctx context.Context, cfg MemberConfig) (string, error) {
	if hasData(cfg.Dir) {
		return "", nil
	}
	ms := peerMembers(ctx, cfg)
	if len(ms) == 0 {
		return "", nil // no peer answers: a new cluster forming
	}
	self := cfg.Peers[cfg.Name]
	var old, added *peerMember
	var endpoints []string
	for i := range ms {
		switch m := &ms[i]; {
		case m.Name == cfg.Name:
			old = m
		case m.Name == "" && slices.Contains(m.PeerURLs, self):
			added = m // added back, not started yet
		default:
			endpoints = append(endpoints, m.ClientURLs...)
		}
	}
	if old != nil && len(old.ClientURLs) == 0 {
		return "", nil // a new cluster, and this member has not started yet
	}
	if len(endpoints) == 0 {
		return "", errors.New("this member lost its data and no other member serves etcd clients to let it back in")
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return "", err
	}
	defer cli.Close()
	// etcd refuses to change its members until its leader has been in
	// touch with a quorum for a few seconds, as after a failover, and a
	// slow host may time a change out: both are tried again, for up to
	// a minute.
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if old != nil {
		if err := removeMember(ctx, cli, cfg.Name, old.ID); err != nil {
			return "", err
		}
	}
	var newID uint64
	if added != nil {
		newID = added.ID
	} else if newID, err = addMember(ctx, cli, cfg.Name, self); err != nil {
		return "", err
	}
	list, err := cli.MemberList(ctx)
	if err != nil {
		return "", fmt.Errorf("list the members to join: %w", err)
	}
	var parts []string
	for _, m := range list.Members {
		name := m.Name
		if m.ID == newID {
			name = cfg.Name
		}
		for _, u := range m.PeerURLs {
			parts = append(parts, name+"="+u)
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ","), nil
}

// removeMember removes the member id, the old one of name. A member
// already gone counts as removed: an earlier attempt whose answer was lost
// may have removed it.
func removeMember(ctx context.Context, cli *clientv3.Client, name string, id uint64) error {
	return retryChange(ctx, "remove the old member "+name+" to replace it", func(ctx context.Context) error {
		_, err := cli.MemberRemove(ctx, id)
		if errors.Is(err, rpctypes.ErrMemberNotFound) {
			return nil
		}
		return err
	})
}

// addMember adds a member of peer URL self, to be name, and returns its
// id. A member of that URL already there was added by an earlier attempt
// whose answer was lost: its id is returned.
func addMember(ctx context.Context, cli *clientv3.Client, name, self string) (uint64, error) {
	var id uint64
	err := retryChange(ctx, "add member "+name+" back", func(ctx context.Context) error {
		resp, err := cli.MemberAdd(ctx, []string{self})
		if err == nil {
			id = resp.Member.ID
			return nil
		}
		if !errors.Is(err, rpctypes.ErrPeerURLExist) {
			return err
		}
		list, lerr := cli.MemberList(ctx)
		if lerr != nil {
			return lerr
		}
		for _, m := range list.Members {
			if slices.Contains(m.PeerURLs, self) {
				id = m.ID
				return nil
			}
		}
		return err
	})
	return id, err
}

// retryChange calls fn until it succeeds, fails for good, or ctx ends.
// Each call gets at most 10 seconds, so that one lost answer does not use
// up the whole bound.
func retryChange(ctx context.Context, what string, fn func(context.Context) error) error {
	for {
		attempt, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := fn(attempt)
		cancel()
		if err == nil {
			return nil
		}
		if !retryable(err) && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w; check that a majority of the other members is up, then start this node again", what, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// retryable reports whether a membership change that failed with err may
// succeed if tried again: the cluster was briefly unhealthy, had no
// leader, or did not commit the change in time.
func retryable(err error) bool {
	for _, e := range []error{
		rpctypes.ErrUnhealthy, rpctypes.ErrTimeout, rpctypes.ErrTimeoutDueToLeaderFail,
		rpctypes.ErrTimeoutDueToConnectionLost, rpctypes.ErrTimeoutWaitAppliedIndex,
		rpctypes.ErrLeaderChanged, rpctypes.ErrNoLeader, rpctypes.ErrNotLeader, rpctypes.ErrTooManyRequests,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
