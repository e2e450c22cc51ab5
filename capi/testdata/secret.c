/*
 * secret: check out a seat of cad as client ID with a Licensee Secret
 * (options_json "licensee_secret"), and print "ok" or the error code.
 *
 *   secret ID SECRET
 */
#include <stdio.h>

#include "usher.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: secret ID SECRET\n");
        return 2;
    }
    char options[256];
    snprintf(options, sizeof options, "{\"client_id\":\"%s\",\"licensee_secret\":\"%s\"}", argv[1], argv[2]);
    usher_error err = {0};
    usher_client *c = usher_client_new(NULL, options, &err);
    if (c == NULL) {
        printf("%s\n", err.code);
        usher_error_free(&err);
        return 0;
    }
    usher_lease *l = usher_checkout(c, "cad", NULL, &err);
    if (l == NULL) {
        printf("%s\n", err.code);
        usher_error_free(&err);
    } else {
        printf("ok\n");
        usher_lease_free(l);
    }
    usher_client_close(c);
    return 0;
}
