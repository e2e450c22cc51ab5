/*
 * count: check out COUNT seats of cad at once (checkout_json "count"),
 * print "ok" or the error code, and hold them until a line is read.
 *
 *   count COUNT
 */
#include <stdio.h>

#include "usher.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: count COUNT\n");
        return 2;
    }
    char checkout[64];
    snprintf(checkout, sizeof checkout, "{\"count\":%s}", argv[1]);
    usher_error err = {0};
    usher_client *c = usher_client_new(NULL, NULL, &err);
    if (c == NULL) {
        printf("%s\n", err.code);
        usher_error_free(&err);
        return 1;
    }
    usher_lease *l = usher_checkout(c, "cad", checkout, &err);
    if (l == NULL) {
        printf("%s\n", err.code);
        usher_error_free(&err);
    } else {
        printf("ok\n");
    }
    fflush(stdout);
    char line[16];
    if (fgets(line, sizeof line, stdin) == NULL) {
        fprintf(stderr, "standard input closed\n");
    }
    usher_lease_free(l);
    usher_client_close(c);
    return 0;
}
