package client

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	usher "github.com/usher-lm/usher"
)

// DefaultPort is the port assumed for a server address without one.
const DefaultPort = "7420"

// normalizeServers turns URLs and host[:port] addresses into base URLs
// without a trailing slash, dropping duplicates.
func normalizeServers(list []string) ([]string, error) {
	var out []string
	for _, s := range list {
		u, err := normalizeServer(s)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out, nil
}

func normalizeServer(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "://") {
		if _, _, err := net.SplitHostPort(s); err != nil {
			s = net.JoinHostPort(strings.Trim(s, "[]"), DefaultPort)
		}
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return "", fmt.Errorf("%q is not a server address: use host:port or http://host:port", s)
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), DefaultPort)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// endpoints returns the servers to try, starting with the one in use. With
// refresh, or before any server is known, it asks the Resolver again.
func (c *Client) endpoints(ctx context.Context, refresh bool) ([]string, error) {
	c.mu.Lock()
	servers, current := c.servers, c.current
	c.mu.Unlock()
	if c.resolver != nil && (refresh || len(servers) == 0) {
		found, err := c.resolver.Resolve(ctx)
		if err == nil {
			found, err = normalizeServers(found)
		}
		if err != nil {
			return nil, usher.Errorf(usher.EUnavailable, "find Usher servers: %v; set %s=host:port to name one", err, EnvServer)
		}
		c.mu.Lock()
		c.servers, servers = found, found
		c.mu.Unlock()
	}
	if len(servers) == 0 {
		return nil, usher.Errorf(usher.EUnavailable, "no Usher server found: set %s=host:port to name one", EnvServer)
	}
	if i := slices.Index(servers, current); i > 0 {
		servers = append(slices.Clone(servers[i:]), servers[:i]...)
	}
	return servers, nil
}

// settle records that server answered, so later requests start there.
func (c *Client) settle(server string) (changed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	changed = c.current != server
	c.current = server
	return changed
}
