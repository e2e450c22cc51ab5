// Command seatholder holds a seat of a feature while it runs and prints
// what the Usher SDK does on its own when the server goes away and comes
// back: retries, failovers, re-checkouts, a lost seat.
//
// Try it against a dev server:
//
//	usher server --dev &
//	USHER_SERVER=127.0.0.1:7420 go run ./examples/seatholder -feature demo
//
// then stop and restart the server, or kick the lease with usher kick, and
// watch. Ctrl-C releases the seat and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/usher-lm/usher/client"
)

func main() {
	feature := flag.String("feature", "demo", "`FEATURE` to hold a seat of")
	wait := flag.Duration("wait", time.Minute, "how long to wait in line when no seat is free")
	flag.Parse()
	log.SetFlags(log.Ltime)
	if err := run(*feature, *wait); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

func run(feature string, wait time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := client.New(client.Options{
		OnEvent: func(ev client.Event) { log.Print(ev) },
	})
	if err != nil {
		return err
	}
	defer c.Close()

	log.Printf("client %s asking for a seat of %s (waiting up to %s)", c.ClientID(), feature, wait)
	lease, err := c.Checkout(ctx, feature, client.Wait(wait))
	if err != nil {
		return fmt.Errorf("no seat: %w", err)
	}
	log.Print("holding the seat; Ctrl-C to release it and exit")
	select {
	case <-ctx.Done():
		if err := lease.Release(context.Background()); err != nil {
			return err
		}
		log.Print("seat released, bye")
		return nil
	case <-lease.Done():
		if errors.Is(lease.Err(), client.ErrReleased) {
			return nil
		}
		return errors.New("exiting: the seat is lost")
	}
}
