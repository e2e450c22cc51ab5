/* cgo.h: what the Go side of libusher needs beyond usher.h. Not installed. */
#ifndef USHER_CGO_H
#define USHER_CGO_H

#include <stdint.h>
#include <stdlib.h>
#include "usher.h"

/* The exported Go functions take const strings through this name, so that
   the prototypes cgo writes match those of usher.h. */
typedef const char usher_cchar;

/* The objects handed to C hold only a handle to the Go value. */
struct usher_client { uintptr_t handle; };
struct usher_lease { uintptr_t handle; };

/* usher_call_lost calls a lease-lost callback (callback.c). */
void usher_call_lost(usher_lost_fn cb, void *ctx, const usher_error *err);

#endif
