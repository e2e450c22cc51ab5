/*
 * checkout: check out a seat of a feature, hold it until a line is read
 * from standard input (Enter), then release it.
 *
 *   cc -o checkout checkout.c -I dist -L dist -lusher
 *   USHER_SERVER=127.0.0.1:7420 LD_LIBRARY_PATH=dist ./checkout cad
 */
#include <stdio.h>

#include "usher.h"

/* on_lost runs on a library thread when the seat is lost for good. */
static void on_lost(void *ctx, const usher_error *err) {
    fprintf(stderr, "lost the seat of %s: %s: %s\n", (const char *)ctx, err->code, err->message);
}

static int fail(const char *what, usher_error *err) {
    fprintf(stderr, "%s: %s: %s\n", what, err->code, err->message);
    usher_error_free(err);
    return 1;
}

int main(int argc, char **argv) {
    const char *feature = argc > 1 ? argv[1] : "cad";
    usher_error err = {0};

    /* NULL servers: USHER_SERVER names them. */
    usher_client *client = usher_client_new(NULL, "{\"user\":\"c-example\"}", &err);
    if (client == NULL) {
        return fail("usher_client_new", &err);
    }
    usher_lease *lease = usher_checkout(client, feature, "{\"wait\":\"10s\"}", &err);
    if (lease == NULL) {
        int rc = fail("usher_checkout", &err);
        usher_client_close(client);
        return rc;
    }
    usher_lease_on_lost(lease, on_lost, (void *)feature);
    printf("checked out %s\n", feature);
    fflush(stdout);

    char line[64];
    if (fgets(line, sizeof line, stdin) == NULL) {
        fprintf(stderr, "standard input closed: releasing\n");
    }
    int rc = 0;
    if (!usher_lease_alive(lease)) {
        fprintf(stderr, "the seat of %s was lost\n", feature);
        rc = 2;
    } else if (usher_release(lease, &err) != 0) {
        rc = fail("usher_release", &err);
    } else {
        printf("released %s\n", feature);
    }
    usher_lease_free(lease);
    usher_client_close(client);
    return rc;
}
