/* The dashboard's worker threads: slow routes (a diagnosis, /proc, release functions:
 * milliseconds to seconds) run here while libmicrohttpd keeps their connection suspended, so
 * that its epoll threads go on serving every other connection. server.c starts them with the
 * server and stops them first, because libmicrohttpd must not be stopped with a connection
 * suspended. */
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "astrolab/error.h"
#include "ui_int.h"

/* Slow routes run here, not on the server threads, whose epoll loops would hold every other
 * connection of theirs meanwhile (issue 14: 8 clients of /api/memory took /metrics from 7,130 to
 * 184 req/s). Started with the server; al_ui_stop drains the queue before stopping the server,
 * because libmicrohttpd must not be stopped with a connection suspended. */
#define WORKERS 2
static struct {
    pthread_mutex_t lock;        /* guards every field below */
    pthread_cond_t wake;         /* signalled when head or stopping changes */
    ali_ui_pending *head, *tail; /* requests waiting for a worker, oldest first */
    bool running;                /* workers started and not told to stop */
    int n_threads;               /* workers started */
    pthread_t threads[WORKERS];  /* joined by workers_stop */
} work = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static void *worker_main(void *arg)
{
    (void)arg;
    ali_ui_own_thread();
    pthread_mutex_lock(&work.lock);
    for (;;) {
        while (!work.head && work.running)
            pthread_cond_wait(&work.wake, &work.lock);
        ali_ui_pending *st = work.head;
        if (!st)
            break; /* stopping, and the queue is drained */
        work.head = st->next;
        if (!work.head)
            work.tail = NULL;
        pthread_mutex_unlock(&work.lock);
        ali_ui_route(&st->rq, &st->reply);
        atomic_store(&st->ready, true);
        MHD_resume_connection(st->conn);
        pthread_mutex_lock(&work.lock);
    }
    pthread_mutex_unlock(&work.lock);
    return NULL;
}

int ali_ui_workers_start(void)
{
    pthread_mutex_lock(&work.lock);
    work.running = true;
    work.n_threads = 0;
    for (int i = 0; i < WORKERS; i++)
        if (pthread_create(&work.threads[i], NULL, worker_main, NULL) == 0)
            work.n_threads++;
    int n = work.n_threads;
    work.running = n > 0;
    pthread_mutex_unlock(&work.lock);
    return n > 0 ? AL_OK : AL_EUI;
}

void ali_ui_workers_stop(void)
{
    pthread_mutex_lock(&work.lock);
    work.running = false;
    pthread_cond_broadcast(&work.wake);
    int n = work.n_threads;
    work.n_threads = 0;
    pthread_mutex_unlock(&work.lock);
    for (int i = 0; i < n; i++)
        pthread_join(work.threads[i], NULL);
}

bool ali_ui_offload(ali_ui_pending *st, struct MHD_Connection *c, const ali_ui_request *rq)
{
    pthread_mutex_lock(&work.lock);
    bool ok = work.running;
    if (ok) {
        st->conn = c;
        st->rq = *rq;
        st->next = NULL;
        MHD_suspend_connection(c);
        if (work.tail)
            work.tail->next = st;
        else
            work.head = st;
        work.tail = st;
        pthread_cond_signal(&work.wake);
    }
    pthread_mutex_unlock(&work.lock);
    return ok;
}
