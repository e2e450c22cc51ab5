package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/client"
)

// An application checks out a seat when it starts, works while it holds
// it, and gives it back when it is done.
func ExampleClient_Checkout() {
	addr, stop := startExampleServer() // an Usher server with one seat of "cad"
	defer stop()

	// With no Servers, New reads USHER_SERVER.
	c, err := client.New(client.Options{Servers: []string{addr}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close() // releases whatever is still held

	ctx := context.Background()
	lease, err := c.Checkout(ctx, "cad", client.Wait(2*time.Minute))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("holding a seat of", lease.Feature())
	// ... work; the lease heartbeats on its own ...
	if err := lease.Release(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("released:", errors.Is(lease.Err(), client.ErrReleased))
	// Output:
	// holding a seat of cad
	// released: true
}

// Errors carry the server's codes, so a program can tell "no seat free"
// from "not licensed" with errors.Is.
func ExampleClient_Checkout_noSeats() {
	addr, stop := startExampleServer() // one seat of "cad"
	defer stop()
	ctx := context.Background()

	alice, err := client.New(client.Options{Servers: []string{addr}, ClientID: "alice"})
	if err != nil {
		log.Fatal(err)
	}
	defer alice.Close()
	bob, err := client.New(client.Options{Servers: []string{addr}, ClientID: "bob"})
	if err != nil {
		log.Fatal(err)
	}
	defer bob.Close()

	if _, err := alice.Checkout(ctx, "cad"); err != nil {
		log.Fatal(err)
	}
	_, err = bob.Checkout(ctx, "cad")
	fmt.Println("no seats:", errors.Is(err, usher.ErrNoSeats))
	_, err = bob.Checkout(ctx, "cam")
	fmt.Println("not licensed:", errors.Is(err, usher.ErrFeatureNotFound))
	// Output:
	// no seats: true
	// not licensed: true
}

// Done closes only when the seat is lost for good, or released: the
// client retries, fails over and checks out again on its own before that.
// OnEvent tells what it does meanwhile.
func ExampleLease_Done() {
	c, err := client.New(client.Options{
		OnEvent: func(ev client.Event) { log.Println(ev) },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lease, err := c.Checkout(ctx, "cad")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		<-lease.Done()
		if !errors.Is(lease.Err(), client.ErrReleased) {
			log.Printf("license lost, saving and stopping: %v", lease.Err())
			cancel()
		}
	}()
	// ... work until ctx is cancelled ...
}
