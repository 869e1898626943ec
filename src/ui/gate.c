/* The dashboard's front door: a thread that owns the listening socket, reads each connection's
 * request head (peeking, so nothing is consumed) and hands the connection to libmicrohttpd
 * only once the head is complete and its Content-Length is one number within the body limit.
 * libmicrohttpd 0.9.75 answers a Content-Length of -1, past 2^64 or not a number itself, before
 * any handler runs, and sends its status line and headers twice (fixed in 1.0.0, which Debian 12
 * does not ship); here such a request gets one 400 or 413 and the connection is closed. A head
 * must arrive whole within GATE_DEADLINE_MS (libmicrohttpd has no such deadline: a client
 * sending a header line every 5 s held a connection for ever). Every reply says
 * "Connection: close" (server.c), so each request of a connection comes through here.
 * server.c starts and stops it; the connections it hands over are libmicrohttpd's. */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "astrolab/log.h"
#include "ui_int.h"

#define GATE_MAX 1024           /* connections whose head is still arriving */
#define GATE_HEAD_MAX 8192      /* a longer head gets 431 */
#define GATE_DEADLINE_MS 10000u /* for a whole head */

typedef struct pending {
    int fd;
    uint64_t deadline; /* ms, CLOCK_MONOTONIC */
    struct sockaddr_storage addr;
    socklen_t addr_len;
} pending;

static struct {
    int listen_fd;
    int wake[2]; /* written to by ali_ui_gate_stop */
    struct MHD_Daemon *daemon;
    pthread_t thread;
    bool running;
    unsigned per_ip; /* most waiting connections from one address; 0: no limit */
    pending p[GATE_MAX];
    int n;
} gate = {.listen_fd = -1, .wake = {-1, -1}};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* One reply, then the connection is closed: the only answer the gate gives itself, with the
 * body every other error of the dashboard has (ali_ui_reply_error). */
static void refuse(int fd, unsigned status, const char *reason, const char *message)
{
    ali_ui_reply r;
    ali_ui_reply_error(&r, status, message);
    const void *body = r.body ? (const void *)r.body : (const void *)r.static_body;
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                     r.status, reason, r.content_type, r.len);
    struct iovec iov[2] = {{head, n > 0 ? (size_t)n : 0}, {(void *)body, r.len}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    if (sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        al_log(AL_LOG_DEBUG, "astrolab.ui", "gate: a refusal was not sent: %s", strerror(errno));
    free(r.body);
    close(fd);
}

/* The head's verdict: 0 (hand it over), or the status to refuse it with. */
static unsigned check_head(const char *head, size_t len, const char **why)
{
    unsigned lengths = 0;
    const char *end = head + len;
    const char *line = memchr(head, '\n', len); /* the request line is libmicrohttpd's to judge */
    while (line && ++line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        size_t n = eol ? (size_t)(eol - line) : (size_t)(end - line);
        static const char cl[] = "content-length:";
        if (n >= sizeof cl - 1 && strncasecmp(line, cl, sizeof cl - 1) == 0) {
            const char *v = line + sizeof cl - 1, *ve = line + n;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            uint64_t value = 0;
            bool digits = v < ve;
            for (const char *c = v; digits && c < ve; c++) {
                digits = *c >= '0' && *c <= '9';
                if (digits && value > (UINT64_MAX - 9) / 10)
                    value = UINT64_MAX; /* saturates: too large either way */
                else if (digits)
                    value = value * 10 + (uint64_t)(*c - '0');
            }
            if (++lengths > 1)
                return *why = "more than one Content-Length header", 400;
            if (!digits)
                return *why = "Content-Length is not a number", 400;
            if (value > ALI_UI_BODY_MAX)
                return *why = ALI_UI_BODY_TOO_LARGE, 413;
        }
        line = eol;
    }
    return 0;
}

/* Looks at what has arrived on p; true when p is done with (handed over or closed). */
static bool examine(pending *p)
{
    char head[GATE_HEAD_MAX + 1];
    ssize_t n = recv(p->fd, head, GATE_HEAD_MAX, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return false;
    if (n <= 0) {
        close(p->fd);
        return true;
    }
    head[n] = '\0';
    const char *end = strstr(head, "\r\n\r\n");
    if (!end && n == GATE_HEAD_MAX) {
        refuse(p->fd, 431, "Request Header Fields Too Large", "the request head is too long");
        return true;
    }
    if (!end)
        return false;
    const char *why = NULL;
    unsigned status = check_head(head, (size_t)(end - head) + 2, &why);
    if (status) {
        refuse(p->fd, status, status == 413 ? "Content Too Large" : "Bad Request", why);
        return true;
    }
    /* libmicrohttpd owns the socket from here, and closes it on failure too. */
    if (MHD_add_connection(gate.daemon, p->fd, (struct sockaddr *)&p->addr, p->addr_len) != MHD_YES)
        al_log(AL_LOG_DEBUG, "astrolab.ui", "gate: a connection was not taken: %s",
               strerror(errno));
    return true;
}

/* Same client address (the port aside)? */
static bool same_address(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

/* One address may not fill the gate (bound beyond loopback: on loopback every client,
 * the user's browser too, is 127.0.0.1). */
static bool over_limit(const pending *p)
{
    unsigned same = 0;
    for (int i = 0; gate.per_ip && i < gate.n; i++)
        same += same_address(&gate.p[i].addr, &p->addr);
    return gate.per_ip && same >= gate.per_ip;
}

static void accept_all(uint64_t now)
{
    while (gate.n < GATE_MAX) {
        pending *p = &gate.p[gate.n];
        p->addr_len = sizeof p->addr;
        int fd = accept4(gate.listen_fd, (struct sockaddr *)&p->addr, &p->addr_len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        p->fd = fd;
        p->deadline = now + GATE_DEADLINE_MS;
        if (over_limit(p))
            close(fd);
        else
            gate.n++;
    }
}

static void *gate_main(void *arg)
{
    (void)arg;
    ali_ui_own_thread();
    static struct pollfd fds[GATE_MAX + 2];
    for (;;) {
        uint64_t now = now_ms(), next = now + GATE_DEADLINE_MS;
        fds[0] = (struct pollfd){.fd = gate.wake[0], .events = POLLIN};
        fds[1] = (struct pollfd){.fd = gate.n < GATE_MAX ? gate.listen_fd : -1, .events = POLLIN};
        for (int i = 0; i < gate.n; i++) {
            fds[i + 2] = (struct pollfd){.fd = gate.p[i].fd, .events = POLLIN};
            next = gate.p[i].deadline < next ? gate.p[i].deadline : next;
        }
        int k = gate.n;
        if (poll(fds, (nfds_t)k + 2, next > now ? (int)(next - now) : 0) < 0 && errno != EINTR)
            break;
        if (fds[0].revents)
            break;
        now = now_ms();
        /* Oldest first; a slot that is done with takes the last one's place. */
        for (int i = k - 1; i >= 0; i--) {
            pending *p = &gate.p[i];
            bool done = false;
            if (fds[i + 2].revents)
                done = examine(p);
            if (!done && p->deadline <= now) {
                refuse(p->fd, 408, "Request Timeout", "the request head did not arrive in time");
                done = true;
            }
            if (done)
                *p = gate.p[--gate.n];
        }
        if (fds[1].revents)
            accept_all(now);
    }
    for (int i = 0; i < gate.n; i++)
        close(gate.p[i].fd);
    gate.n = 0;
    return NULL;
}

int ali_ui_gate_start(int listen_fd, struct MHD_Daemon *daemon, unsigned per_ip)
{
    gate.per_ip = per_ip;
    if (pipe2(gate.wake, O_CLOEXEC | O_NONBLOCK) != 0)
        return AL_EIO;
    gate.listen_fd = listen_fd;
    gate.daemon = daemon;
    gate.n = 0;
    if (pthread_create(&gate.thread, NULL, gate_main, NULL) != 0) {
        close(gate.wake[0]);
        close(gate.wake[1]);
        gate.wake[0] = gate.wake[1] = -1;
        return AL_ENOMEM;
    }
    gate.running = true;
    return AL_OK;
}

void ali_ui_gate_stop(void)
{
    if (!gate.running)
        return;
    if (write(gate.wake[1], "x", 1) != 1)
        al_log(AL_LOG_WARNING, "astrolab.ui", "gate: cannot wake its thread: %s", strerror(errno));
    pthread_join(gate.thread, NULL);
    close(gate.wake[0]);
    close(gate.wake[1]);
    gate.wake[0] = gate.wake[1] = -1;
    close(gate.listen_fd);
    gate.listen_fd = -1;
    gate.running = false;
}
