/*
 * usher.h: the C library of Usher, libusher.
 *
 * An application checks out a seat of a licensed feature from an Usher
 * server and keeps it while it runs; heartbeats, retries, failover over
 * several servers and re-checkout after a server lost the lease run in the
 * background, as in the Go SDK the library is built from.
 *
 * Link with -lusher (libusher.so), or with libusher.a and -lpthread.
 * See docs/sdk-c.md.
 *
 * Threads: every function may be called from any thread. One usher_client
 * may be shared by threads; one usher_lease may be used by several threads
 * except that usher_lease_free and usher_client_close must not run at the
 * same time as another call on the same object, nor after it.
 *
 * Memory: the library allocates every object it returns and frees it in
 * the matching call: usher_client_new/usher_client_close,
 * usher_checkout/usher_lease_free, and the strings of an usher_error with
 * usher_error_free. The library never keeps a pointer passed to it, except
 * the ctx of usher_lease_on_lost, which it passes back to the callback and
 * never dereferences. Strings passed in are read during the call only.
 */
#ifndef USHER_H
#define USHER_H

#ifdef __cplusplus
extern "C" {
#endif

/* A client of Usher servers. Opaque; create with usher_client_new. */
typedef struct usher_client usher_client;

/* A seat of a feature held by a client. Opaque; create with usher_checkout. */
typedef struct usher_lease usher_lease;

/*
 * An error. code is the stable, machine-readable code of the HTTP API
 * ("no_seats_available", "feature_not_found", "unavailable", ... see
 * docs/api.md); message says what happened and what to do next.
 *
 * A function that fails fills the usher_error the caller passed (if not
 * NULL) with two strings the library allocates; the caller frees them with
 * usher_error_free. A function that succeeds leaves it untouched, so
 * initialise it to {0} (or {NULL, NULL}) and free it after every failure.
 */
typedef struct usher_error {
    char *code;
    char *message;
} usher_error;

/*
 * Called once when a lease's seat is definitively lost (not after
 * usher_release or usher_client_close). err is valid during the call only;
 * do not free it. The callback runs on a thread of the library: it must
 * return quickly and must not call usher_lease_free on its lease.
 */
typedef void (*usher_lost_fn)(void *ctx, const usher_error *err);

/*
 * usher_client_new returns a new client, or NULL and fills err.
 *
 * servers: a comma-separated list of URLs or host:port addresses, as in
 * USHER_SERVER; NULL or "" reads the USHER_SERVER environment variable,
 * and without it the client searches the LAN (docs/discovery.md).
 * options_json: NULL or a JSON object with the optional keys
 *   "client_id"       stable identity of this application instance
 *   "user", "host"    reported to the server instead of the OS values
 *   "token"           bearer credential (default USHER_CLIENT_TOKEN)
 *   "tls_fingerprint" SHA-256 fingerprint of the server certificate to
 *                     trust (default USHER_TLS_FINGERPRINT)
 *   "vendor_keys"     array of PEM texts: vendor public keys whose
 *                     signature on lease tokens the client requires
 *   "licensee_secret" the Licensee Secret sent with every checkout
 * An unknown key is an error ("invalid_request").
 *
 * The caller owns the client and frees it with usher_client_close.
 */
usher_client *usher_client_new(const char *servers, const char *options_json, usher_error *err);

/*
 * usher_checkout checks out a seat of feature and returns the lease, or
 * NULL and fills err ("no_seats_available", "feature_not_found",
 * "unavailable" when no server answered, ...). It blocks while it retries
 * and, with a wait, while it waits in line for a free seat.
 *
 * checkout_json: NULL or a JSON object with the optional keys
 *   "wait"  how long to wait for a seat, as "30s", "2m" (default: fail at once)
 *   "count" how many seats to check out (default 1)
 *
 * The seat is kept alive in the background until usher_release,
 * usher_lease_free or usher_client_close. One client holds one lease per
 * feature. The caller owns the lease and frees it with usher_lease_free.
 */
usher_lease *usher_checkout(usher_client *client, const char *feature, const char *checkout_json, usher_error *err);

/* usher_lease_alive returns 1 while the seat is held, 0 once it was lost or released. */
int usher_lease_alive(usher_lease *lease);

/*
 * usher_lease_on_lost registers cb to be called when the seat is
 * definitively lost; a later call replaces the callback, and a NULL cb
 * removes it. If the seat is already lost, cb is called soon after.
 */
void usher_lease_on_lost(usher_lease *lease, usher_lost_fn cb, void *ctx);

/*
 * usher_release gives the seat back and stops its heartbeats. It returns 0,
 * or -1 and fills err: "lease_not_found" when the server no longer had the
 * lease (kicked or expired), "unavailable" when no server answered (the
 * server then reclaims the seat after its keep-alive timeout). Either way
 * the lease has ended. Releasing a lease that already ended returns 0.
 * The lease must still be freed with usher_lease_free.
 */
int usher_release(usher_lease *lease, usher_error *err);

/*
 * usher_lease_free releases the seat if it is still held (ignoring errors)
 * and frees the lease. NULL is allowed.
 */
void usher_lease_free(usher_lease *lease);

/*
 * usher_client_close releases every seat the client holds, stops its
 * threads and frees the client. Leases of the client stay valid objects,
 * ended, until usher_lease_free. NULL is allowed.
 */
void usher_client_close(usher_client *client);

/* usher_error_free frees the strings of err and sets them to NULL. NULL is allowed. */
void usher_error_free(usher_error *err);

#ifdef __cplusplus
}
#endif

#endif /* USHER_H */
