/*
 * threads: one client shared by four threads, each checking a seat of its
 * own feature out and in twenty times. Prints "ok" when every call
 * succeeded.
 */
#include <pthread.h>
#include <stdio.h>

#include "usher.h"

static usher_client *client;
static const char *features[] = {"cad", "cam", "eda", "sim"};

static void *work(void *arg) {
    const char *feature = arg;
    for (int i = 0; i < 20; i++) {
        usher_error err = {0};
        usher_lease *l = usher_checkout(client, feature, "{\"wait\":\"10s\"}", &err);
        if (l == NULL) {
            fprintf(stderr, "checkout %s: %s: %s\n", feature, err.code, err.message);
            usher_error_free(&err);
            return (void *)1;
        }
        int failed = !usher_lease_alive(l) || usher_release(l, &err) != 0;
        if (failed) {
            fprintf(stderr, "release %s: %s\n", feature, err.code ? err.code : "not alive");
            usher_error_free(&err);
        }
        usher_lease_free(l);
        if (failed) {
            return (void *)1;
        }
    }
    return NULL;
}

int main(void) {
    usher_error err = {0};
    client = usher_client_new(NULL, NULL, &err);
    if (client == NULL) {
        fprintf(stderr, "usher_client_new: %s: %s\n", err.code, err.message);
        return 1;
    }
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        pthread_create(&threads[i], NULL, work, (void *)features[i]);
    }
    int failed = 0;
    for (int i = 0; i < 4; i++) {
        void *rc;
        pthread_join(threads[i], &rc);
        failed |= rc != NULL;
    }
    usher_client_close(client);
    if (failed) {
        return 1;
    }
    printf("ok\n");
    return 0;
}
