package daemon_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/usher-lm/usher/internal/daemon"
	"github.com/usher-lm/usher/internal/discovery/lan"
	"github.com/usher-lm/usher/internal/ushertest"
)

// freeUDPPort returns a UDP port free on loopback a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// discoverOnLoopback starts a server with discovery on a port of its own
// and asks it directly.
func discoverOnLoopback(t *testing.T, configure func(*daemon.Config)) (lan.Server, *ushertest.Server) {
	t.Helper()
	port := freeUDPPort(t)
	s := ushertest.StartServer(t, ushertest.ServerOptions{Seats: map[string]int{"cad": 2, "cam": 1}, Configure: func(c *daemon.Config) {
		c.Discovery, c.DiscoveryPort = true, port
		if configure != nil {
			configure(c)
		}
	}})
	found, err := lan.Find(context.Background(), lan.Options{Port: port, Scan: []string{fmt.Sprintf("127.0.0.1:%d", port)}, NoBroadcast: true, Timeout: 2 * time.Second, Settle: time.Millisecond})
	if err != nil || len(found) != 1 {
		t.Fatalf("Find = %+v, %v; want the server", found, err)
	}
	return found[0], s
}

func TestDiscoveryReplyNamesTheServer(t *testing.T) {
	got, s := discoverOnLoopback(t, nil)
	if want := "http://" + s.Addr(); !slices.Equal(got.URLs, []string{want}) {
		t.Errorf("URLs %v, want [%s]", got.URLs, want)
	}
	if !slices.Equal(got.Features, []string{"cad", "cam"}) || got.GUID == "" {
		t.Errorf("reply %+v, want a GUID and the features cad and cam", got)
	}
}

func TestDiscoveryHidesFeaturesBehindAClientPassword(t *testing.T) {
	got, _ := discoverOnLoopback(t, func(c *daemon.Config) { c.ClientPassword = "s3cret-enough-password" })
	if len(got.Features) != 0 {
		t.Errorf("features %v with a client password, want none", got.Features)
	}
}
