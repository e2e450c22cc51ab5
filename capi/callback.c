#include "cgo.h"

/* Go cannot call a C function pointer itself. */
void usher_call_lost(usher_lost_fn cb, void *ctx, const usher_error *err) {
    cb(ctx, err);
}
