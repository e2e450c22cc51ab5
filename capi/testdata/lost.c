/*
 * lost: the error paths of libusher and its lease-lost callback. It checks
 * that bad options and an unknown feature fail with the right codes, then
 * checks out FEATURE, prints "checked out", and after a line on standard
 * input waits for the callback (the test took the seat meanwhile) and
 * prints "lost CODE".
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "usher.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char lost_code[64];
static int calls;

static void on_lost(void *ctx, const usher_error *err) {
    pthread_mutex_lock(&mu);
    snprintf(lost_code, sizeof lost_code, "%s", err->code);
    calls++;
    pthread_mutex_unlock(&mu);
    (void)ctx;
}

/* expect checks that a call failed with code, and frees the error. */
static int expect(const char *what, int failed, usher_error *err, const char *code) {
    int ok = failed && err->code != NULL && strcmp(err->code, code) == 0 && err->message != NULL && err->message[0] != '\0';
    if (!ok) {
        fprintf(stderr, "%s: failed %d with %s (%s), want code %s\n", what, failed,
                err->code ? err->code : "(null)", err->message ? err->message : "(null)", code);
    }
    usher_error_free(err);
    if (err->code != NULL || err->message != NULL) {
        fprintf(stderr, "usher_error_free left the strings set\n");
        ok = 0;
    }
    return ok;
}

int main(int argc, char **argv) {
    const char *feature = argc > 1 ? argv[1] : "cad";
    usher_error err = {0};
    int ok = 1;

    ok &= expect("unknown option", usher_client_new(NULL, "{\"colour\":\"red\"}", &err) == NULL, &err, "invalid_request");
    ok &= expect("bad servers", usher_client_new("ftp://x", NULL, &err) == NULL, &err, "invalid_request");
    ok &= expect("NULL client", usher_checkout(NULL, feature, NULL, &err) == NULL, &err, "invalid_request");
    usher_client *c = usher_client_new(NULL, "{\"client_id\":\"lost-test\"}", &err);
    if (c == NULL) {
        fprintf(stderr, "usher_client_new: %s: %s\n", err.code, err.message);
        return 1;
    }
    ok &= expect("bad wait", usher_checkout(c, feature, "{\"wait\":\"soon\"}", &err) == NULL, &err, "invalid_request");
    ok &= expect("unknown feature", usher_checkout(c, "no-such-feature", NULL, &err) == NULL, &err, "feature_not_found");
    ok &= expect("NULL lease", usher_release(NULL, &err) != 0, &err, "invalid_request");

    usher_lease *l = usher_checkout(c, feature, "{\"count\":1}", &err);
    if (l == NULL) {
        fprintf(stderr, "usher_checkout: %s: %s\n", err.code, err.message);
        return 1;
    }
    usher_lease_on_lost(l, on_lost, NULL);
    printf("checked out\n");
    fflush(stdout);
    char line[16];
    if (fgets(line, sizeof line, stdin) == NULL) {
        return 1;
    }
    struct timespec pause = {0, 20 * 1000 * 1000};
    for (int i = 0; i < 500; i++) { /* up to 10 s */
        pthread_mutex_lock(&mu);
        int n = calls;
        pthread_mutex_unlock(&mu);
        if (n > 0) {
            break;
        }
        nanosleep(&pause, NULL);
    }
    pthread_mutex_lock(&mu);
    printf("lost %s %d alive %d\n", lost_code, calls, usher_lease_alive(l));
    pthread_mutex_unlock(&mu);
    if (usher_release(l, &err) != 0) { /* an ended lease releases without error */
        fprintf(stderr, "usher_release of a lost lease: %s\n", err.code);
        usher_error_free(&err);
        ok = 0;
    }
    usher_lease_free(l);
    usher_client_close(c);
    usher_lease_free(NULL);
    usher_client_close(NULL);
    usher_error_free(NULL);
    if (!ok) {
        return 1;
    }
    printf("ok\n");
    return 0;
}
