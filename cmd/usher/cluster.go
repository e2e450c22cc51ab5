package main

import (
	"context"
	"fmt"
	"strings"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/httpapi"
)

// cmdCluster shows the state of a cluster: who decides, which etcd member
// leads raft, and the health and raft lag of every member.
func cmdCluster(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "status" {
		return usageErrorf("want a subcommand: status")
	}
	c, a, _, err := adminCommand(e, "cluster status", "cluster status [--json]", args[1:])
	if err != nil {
		return err
	}
	st, err := clusterStatus(ctx, e, a, c)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(e, st)
	}
	if len(st.Members) == 0 && st.Error == "" && st.Decider == st.Node {
		fmt.Fprintf(e.stdout, "single node %s: it decides alone, with no etcd member to show\n", termSafe(st.Node))
		return nil
	}
	decider := st.Decider
	if decider == "" {
		decider = "none (an election is under way)"
	} else if st.DeciderURL != "" {
		decider += " at " + st.DeciderURL
	}
	fmt.Fprintf(e.stdout, "cluster %s (answered by node %s)\ndeciding node: %s\netcd leader:   %s\n", termSafe(st.Cluster), termSafe(st.Node), termSafe(decider), termSafe(orNone(st.EtcdLeader)))
	if st.Error != "" {
		fmt.Fprintf(e.stdout, "warning:       %s\n", termSafe(st.Error))
	}
	fmt.Fprintln(e.stdout)
	t := newTable(e.stdout, "MEMBER", "HEALTH", "ROLE", "RAFT TERM", "RAFT INDEX", "LAG", "CLIENT URL", "ERROR")
	for _, m := range st.Members {
		health, role, term, index, lag := "unhealthy", "-", "-", "-", "-"
		if m.Healthy {
			health, role = "healthy", "follower"
		}
		if m.Leader {
			role = "leader"
		}
		switch {
		case m.Name == st.Decider && role == "-":
			role = "decides"
		case m.Name == st.Decider:
			role += ", decides"
		}
		if m.RaftIndex > 0 { // the member answered
			term, index, lag = fmt.Sprint(m.RaftTerm), fmt.Sprint(m.RaftIndex), fmt.Sprint(m.Lag)
		}
		t.row(orNone(m.Name), health, role, term, index, lag, strings.Join(m.ClientURLs, ","), m.Error)
	}
	return t.flush()
}

// clusterStatus asks each server of the list in turn (USHER_SERVER may
// name several), so that the status shows even with a node down.
func clusterStatus(ctx context.Context, e *env, a *adminFlags, c *httpapi.Client) (httpapi.ClusterStatus, error) {
	servers := strings.Split(firstNonEmpty(a.server, e.getenv("USHER_SERVER"), defaultServer), ",")
	var lastErr error
	for _, s := range servers {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		cl := httpapi.NewClient(s, c.Token)
		st, err := cl.ClusterStatus(ctx)
		switch {
		case err == nil:
			return st, nil
		case usher.ErrorCode(err) == httpapi.ENotFound:
			return st, fmt.Errorf("the server at %s runs in single-node mode: there is no cluster to show", cl.BaseURL)
		case usher.ErrorCode(err) != usher.EUnavailable:
			return st, err
		}
		lastErr = err
	}
	return httpapi.ClusterStatus{}, lastErr
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
