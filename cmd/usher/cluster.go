package main

import (
	"context"
	"fmt"
	"strings"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/wire"
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
	st, err := c.ClusterStatus(ctx)
	if usher.ErrorCode(err) == wire.ENotFound {
		return fmt.Errorf("the server at %s runs in single-node mode: there is no cluster to show", c.Server())
	}
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

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
