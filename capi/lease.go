package main

/*
#include "cgo.h"
*/
import "C"

import (
	"context"
	"errors"
	"runtime/cgo"
	"sync"
	"unsafe"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/client"
)

// lease is the Go value behind an usher_lease: the SDK's lease and the
// goroutine that calls its lease-lost callback.
type lease struct {
	l    *client.Lease
	stop chan struct{} // closed by usher_lease_free
	wg   sync.WaitGroup

	mu       sync.Mutex
	cb       C.usher_lost_fn
	ctx      unsafe.Pointer // the caller's, never dereferenced here
	watching bool
}

//export usher_checkout
func usher_checkout(p *C.usher_client, feature, checkoutJSON *C.usher_cchar, cerr *C.usher_error) *C.usher_lease {
	c, err := clientOf(p)
	if err == nil && feature == nil {
		err = usher.Errorf(usher.EInvalid, "the feature is NULL: name the feature to check out")
	}
	var opts []client.CheckoutOption
	if err == nil {
		opts, err = parseCheckout(goString(checkoutJSON))
	}
	var l *client.Lease
	if err == nil {
		l, err = c.Checkout(context.Background(), goString(feature), opts...)
	}
	if err != nil {
		setError(cerr, err)
		return nil
	}
	lp := (*C.usher_lease)(C.malloc(C.sizeof_struct_usher_lease))
	lp.handle = C.uintptr_t(cgo.NewHandle(&lease{l: l, stop: make(chan struct{})}))
	return lp
}

// leaseOf returns the lease behind p; nil for NULL.
func leaseOf(p *C.usher_lease) *lease {
	if p == nil {
		return nil
	}
	return cgo.Handle(p.handle).Value().(*lease)
}

//export usher_lease_alive
func usher_lease_alive(p *C.usher_lease) C.int {
	l := leaseOf(p)
	if l == nil {
		return 0
	}
	select {
	case <-l.l.Done():
		return 0
	default:
		return 1
	}
}

//export usher_lease_on_lost
func usher_lease_on_lost(p *C.usher_lease, cb C.usher_lost_fn, ctx unsafe.Pointer) {
	l := leaseOf(p)
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cb, l.ctx = cb, ctx
	if cb != nil && !l.watching {
		l.watching = true
		l.wg.Add(1)
		go l.watch()
	}
}

// watch calls the callback once the seat is lost, unless it was released
// or the lease is freed first.
func (l *lease) watch() {
	defer l.wg.Done()
	select {
	case <-l.stop:
		return
	case <-l.l.Done():
	}
	err := l.l.Err()
	if errors.Is(err, client.ErrReleased) {
		return
	}
	l.mu.Lock()
	cb, ctx := l.cb, l.ctx
	l.mu.Unlock()
	if cb == nil {
		return
	}
	var cerr C.usher_error
	setError(&cerr, err)
	defer usher_error_free(&cerr)
	C.usher_call_lost(cb, ctx, &cerr)
}

//export usher_release
func usher_release(p *C.usher_lease, cerr *C.usher_error) C.int {
	l := leaseOf(p)
	if l == nil {
		setError(cerr, usher.Errorf(usher.EInvalid, "the lease is NULL: release the lease usher_checkout returned"))
		return -1
	}
	if err := l.l.Release(context.Background()); err != nil {
		setError(cerr, err)
		return -1
	}
	return 0
}

//export usher_lease_free
func usher_lease_free(p *C.usher_lease) {
	l := leaseOf(p)
	if l == nil {
		return
	}
	_ = l.l.Release(context.Background()) // unreleased seats expire on the server
	close(l.stop)
	l.wg.Wait()
	cgo.Handle(p.handle).Delete()
	C.free(unsafe.Pointer(p))
}
