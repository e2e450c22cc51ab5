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
	// touch with a quorum for a few seconds, as after a failover.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	change := func(what string, fn func() error) error {
		for {
			err := fn()
			if err == nil || !errors.Is(err, rpctypes.ErrUnhealthy) {
				if err != nil {
					return fmt.Errorf("%s: %w", what, err)
				}
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: %w", what, err)
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	if old != nil {
		err := change("remove the old member "+cfg.Name+" to replace it", func() error {
			_, err := cli.MemberRemove(ctx, old.ID)
			return err
		})
		if err != nil {
			return "", err
		}
	}
	var newID uint64
	if added != nil {
		newID = added.ID
	} else {
		err := change("add member "+cfg.Name+" back", func() error {
			resp, err := cli.MemberAdd(ctx, []string{self})
			if err == nil {
				newID = resp.Member.ID
			}
			return err
		})
		if err != nil {
			return "", err
		}
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
