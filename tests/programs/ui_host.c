/* A host program for the dashboard tests (tests/browser/, bench/): serves the UI and runs a
 * workload that allocates over time, so that a browser sees the figures move.
 *
 *   ui_host [PORT [SECONDS]]     PORT 0 (default): any free port; SECONDS (default 120): exit
 *                                after that long, so a crashed test never leaves it behind.
 *
 * It prints one line "URL http://127.0.0.1:PORT/?token=..." on stdout when serving, then runs
 * until SIGINT or SIGTERM. The workload grows a list of 64 KiB blocks ("struct sample_batch")
 * by one every 20 ms up to 24 MiB, frees it down to a quarter, and grows again; beside it a
 * registered 8 MiB cache ("struct tile_cache") that a force cleanup releases (and that the
 * workload rebuilds 5 seconds later). */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "astrolab/astrolab.h"
#include "astrolab/ui.h"

#define BATCH_BYTES (64 * 1024)
#define MAX_BATCHES 384 /* 24 MiB */
#define CACHE_BYTES (8 * 1024 * 1024)

struct sample_batch {
    unsigned char data[BATCH_BYTES];
};

struct tile_cache {
    pthread_mutex_t lock; /* guards tiles: the release runs on the dashboard's thread */
    unsigned char *tiles; /* CACHE_BYTES, or NULL once released */
    time_t released_at;
};

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int cache_release(void *obj)
{
    struct tile_cache *c = obj;
    pthread_mutex_lock(&c->lock);
    al_free(c->tiles);
    c->tiles = NULL;
    c->released_at = time(NULL);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

static void cache_fill(struct tile_cache *c)
{
    pthread_mutex_lock(&c->lock);
    if (!c->tiles && time(NULL) - c->released_at >= 5) {
        c->tiles = al_malloc_tagged(CACHE_BYTES, "tile cache data");
        if (c->tiles)
            memset(c->tiles, 1, CACHE_BYTES);
    }
    pthread_mutex_unlock(&c->lock);
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 0;
    int seconds = argc > 2 ? atoi(argv[2]) : 120;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);

    struct tile_cache *cache = AL_NEW(struct tile_cache);
    if (!cache)
        return 1;
    pthread_mutex_init(&cache->lock, NULL);
    cache_fill(cache);
    al_handle h = al_register_for_cleanup(cache, cache_release, "struct tile_cache");

    al_ui_options o;
    al_ui_options_init(&o);
    o.port = (uint16_t)port;
    al_error err;
    if (al_ui_serve(&o, &err) != AL_OK) {
        fprintf(stderr, "ui_host: %s\n", err.message);
        return 1;
    }
    char *url = al_ui_url();
    printf("URL %s\n", url ? url : "?");
    fflush(stdout);
    free(url);

    struct sample_batch **batches = al_calloc(MAX_BATCHES, sizeof *batches);
    int n = 0;
    bool growing = true;
    time_t end = time(NULL) + seconds;
    while (!stop && batches && time(NULL) < end) {
        if (growing) {
            batches[n] = AL_NEW(struct sample_batch);
            if (batches[n]) {
                memset(batches[n]->data, n, 4096);
                n++;
            }
            growing = n < MAX_BATCHES;
        } else {
            AL_FREE(batches[--n]);
            growing = n <= MAX_BATCHES / 4;
        }
        cache_fill(cache);
        usleep(20000);
    }
    al_ui_stop();
    while (n > 0)
        al_free(batches[--n]);
    al_free(batches);
    (void)!al_unregister(h);
    cache_release(cache);
    al_free(cache);
    return 0;
}
