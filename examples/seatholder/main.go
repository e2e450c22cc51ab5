// Command seatholder holds a seat of a feature while it runs and prints
// what the Usher SDK does on its own when the server goes away and comes
// back: an outage (one line when the server is lost, one when it is back),
// failovers, re-checkouts, a lost seat.
//
// Try it against a dev server:
//
//	usher server --dev &
//	USHER_SERVER=127.0.0.1:7420 go run ./examples/seatholder -feature demo
//
// then stop and restart the server, or kick the lease with usher kick, and
// watch. Ctrl-C releases the seat and exits. Without USHER_SERVER (or with
// USHER_SERVER= empty) it finds a server on the LAN by itself:
//
//	USHER_SERVER= go run ./examples/seatholder -feature cad
//
// (see docs/discovery.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/client"
)

func main() {
	feature := flag.String("feature", "demo", "`FEATURE` to hold a seat of")
	wait := flag.Duration("wait", time.Minute, "how long to wait in line when no seat is free")
	flag.Parse()
	log.SetFlags(log.Ltime)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	o := &outage{log: log.Default()}
	err := func() error {
		c, err := client.New(client.Options{OnEvent: o.report})
		if err != nil {
			return err
		}
		defer c.Close()
		return run(ctx, c, *feature, *wait, log.Default())
	}()
	stop()
	if err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

// run holds a seat of feature until ctx ends or the seat is lost.
func run(ctx context.Context, c *client.Client, feature string, wait time.Duration, logger *log.Logger) error {
	logger.Printf("client %s asking for a seat of %s (waiting up to %s)", c.ClientID(), feature, wait)
	lease, err := c.Checkout(ctx, feature, client.Wait(wait))
	if err != nil {
		return fmt.Errorf("no seat: %w", err)
	}
	logger.Print("holding the seat; Ctrl-C to release it and exit")
	select {
	case <-ctx.Done():
		err := lease.Release(context.Background())
		if errors.Is(err, usher.ErrLeaseNotFound) {
			logger.Print("the seat was already gone (kicked or expired), bye")
			return nil
		}
		if err != nil {
			return err
		}
		logger.Print("seat released, bye")
		return nil
	case <-lease.Done():
		if errors.Is(lease.Err(), client.ErrReleased) {
			return nil
		}
		return errors.New("exiting: the seat is lost")
	}
}

// outage prints the SDK's events, folding the retries while a server is
// down into one line when it is lost and one when it answers again.
type outage struct {
	log     *log.Logger
	mu      sync.Mutex // the SDK reports from several goroutines
	since   time.Time  // when the server was lost; zero while it answers
	retries int        // requests tried again since
}

func (o *outage) report(ev client.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case ev.Type == client.EventUnreachable && o.since.IsZero():
		o.since, o.retries = ev.Time, 0
		o.log.Printf("lost the server (%v); the SDK retries quietly until it is back", ev.Err)
	case ev.Type == client.EventUnreachable:
		o.retries++
	case (ev.Type == client.EventReconnected || ev.Type == client.EventFailover) && !o.since.IsZero():
		o.retries++ // the request that got through
		o.log.Printf("%s after %s, %d retries", ev, ev.Time.Sub(o.since).Round(100*time.Millisecond), o.retries)
		o.since = time.Time{}
	default:
		if ev.Type == client.EventLost {
			o.since = time.Time{}
		}
		o.log.Print(ev)
	}
}
