// Command capi is libusher, the C library of Usher: the Go SDK (package
// client) behind the C ABI of usher.h, built with
//
//	go build -buildmode=c-shared -o libusher.so ./capi
//	go build -buildmode=c-archive -o libusher.a ./capi
//
// or make libusher. No Go pointer crosses the boundary: the C objects are
// small structs allocated with malloc that hold a runtime/cgo.Handle of the
// Go value, and every string handed to C is a copy allocated with malloc.
// See usher.h for the ownership of every pointer and docs/sdk-c.md.
package main

/*
#include "cgo.h"
*/
import "C"

import (
	"context"
	"errors"
	"runtime/cgo"
	"strings"
	"unsafe"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/client"
)

// main is never called: the package is built as a library.
func main() {}

//export usher_client_new
func usher_client_new(servers, optionsJSON *C.usher_cchar, cerr *C.usher_error) *C.usher_client {
	opts, err := parseOptions(goString(optionsJSON))
	if err != nil {
		setError(cerr, err)
		return nil
	}
	opts.Servers = splitServers(goString(servers))
	c, err := client.New(opts)
	if err != nil {
		setError(cerr, err)
		return nil
	}
	p := (*C.usher_client)(C.malloc(C.sizeof_struct_usher_client))
	p.handle = C.uintptr_t(cgo.NewHandle(c))
	return p
}

//export usher_client_close
func usher_client_close(p *C.usher_client) {
	if p == nil {
		return
	}
	h := cgo.Handle(p.handle)
	_ = h.Value().(*client.Client).Close() // the leases it could not release expire on the server
	h.Delete()
	C.free(unsafe.Pointer(p))
}

//export usher_error_free
func usher_error_free(cerr *C.usher_error) {
	if cerr == nil {
		return
	}
	C.free(unsafe.Pointer(cerr.code))
	C.free(unsafe.Pointer(cerr.message))
	cerr.code, cerr.message = nil, nil
}

// clientOf returns the client behind p, or an error for NULL.
func clientOf(p *C.usher_client) (*client.Client, error) {
	if p == nil {
		return nil, usher.Errorf(usher.EInvalid, "the client is NULL: create one with usher_client_new")
	}
	return cgo.Handle(p.handle).Value().(*client.Client), nil
}

// setError fills cerr, if not NULL, with err's code and message in
// strings allocated with malloc.
func setError(cerr *C.usher_error, err error) {
	if cerr == nil {
		return
	}
	code, msg := errorText(err)
	cerr.code, cerr.message = C.CString(code), C.CString(msg)
}

// errorText returns the API code of err and its message. Errors of the
// SDK without a code get the code that says what to do about them.
func errorText(err error) (code, message string) {
	switch {
	case errors.Is(err, client.ErrClosed):
		return usher.EInvalid, "the client is closed: create a new one with usher_client_new"
	case errors.Is(err, context.Canceled):
		return usher.EUnavailable, "the client was closed while the call waited"
	}
	return usher.ErrorCode(err), err.Error()
}

// goString copies a C string; NULL is "".
func goString(s *C.usher_cchar) string {
	if s == nil {
		return ""
	}
	return C.GoString((*C.char)(unsafe.Pointer(s)))
}

// splitServers splits a list as USHER_SERVER writes it; "" is none, so
// that the SDK reads the environment.
func splitServers(list string) []string {
	var out []string
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
