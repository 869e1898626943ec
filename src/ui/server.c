/* The dashboard's HTTP server: GNU libmicrohttpd (Debian's libmicrohttpd-dev), chosen over
 * civetweb because it is a small C library built for embedding in a host process, with hard
 * limits on connections and per-connection memory, and a maintained Debian package (civetweb
 * is also packaged, but brings its own file serving, CGI and Lua that a dashboard must not
 * expose). al_ui_serve binds (127.0.0.1 unless asked), makes the token, starts the sampler
 * (timeline.c) and the server's threads; al_ui_stop ends them. This file turns requests into
 * ali_ui_request, checks the token, the Host header and the body size, and sends what
 * routes.c answers. Everything here uses the C library's heap: untracked (<astrolab/ui.h>).
 *
 * Under attack (issue 14): one polling thread with 64 connections and a 30 s timeout was
 * unreachable while 200 idle sockets stayed open, and one slow endpoint (/api/memory, ~3 ms)
 * starved the fast ones. Now a pool of epoll threads serves up to CONN_LIMIT connections,
 * PER_IP_LIMIT from any one address when bound beyond loopback, and drops a connection idle for
 * CONN_TIMEOUT_S; slow routes run on worker threads while their connection is suspended
 * (workers.c); and the listening socket is the front door's (gate.c), which reads each request
 * head before libmicrohttpd gets the connection. Every reply closes its connection, so every
 * request passes the door.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "astrolab/astrolab.h"
#include "astrolab/ui.h"
#include "memory/services_int.h"
#include "ui_int.h"

/* al_ui_options: the defaults and the accepted ranges <astrolab/ui.h> states. */
#define TOKEN_MIN 16 /* characters of a caller's token */
#define TOKEN_MAX 64
#define TOKEN_RANDOM_BYTES 16 /* the generated token: 32 hex digits */
#define SAMPLE_MS_DEFAULT 250 /* 4 samples a second */
#define SAMPLE_MS_MIN 10
#define SAMPLE_MS_MAX 60000
#define CAPACITY_DEFAULT 2400 /* 10 minutes at 4 a second */
#define CAPACITY_MIN 16
#define CAPACITY_MAX 1000000
/* Connections the kernel queues before the gate (gate.c) accepts them. */
#define LISTEN_BACKLOG 128

/* Sized against issue 14's attacks: 500 idle sockets leave the dashboard answering; a browser
 * opens at most 6 per host, Prometheus 1. The per-address limit applies only when bound beyond
 * loopback: on loopback every client is 127.0.0.1, the user's browser included, so a limit
 * there would hand the attacker the user's share. */
#define CONN_LIMIT 1024u
#define PER_IP_LIMIT 64u
/* Inactivity timeout: the page polls every 0.5 s, so only idle or stalled clients reach it.
 * libmicrohttpd 0.9.75 has no separate deadline for a request's headers. */
#define CONN_TIMEOUT_S 10u
/* Threads, each with its own epoll set: a slow reply (/api/memory) holds up only the
 * connections of its own thread (measured in docs/PERFORMANCE.md, "Dashboard under load"). */
#define POOL_THREADS 4u
/* Memory libmicrohttpd gives each connection for the request head it parses and the reply's
 * headers (its own default, stated): the gate lets through heads of at most GATE_HEAD_MAX
 * (8 KiB, gate.c), and no route reads a body. */
#define CONN_MEMORY_LIMIT ((size_t)32 * 1024)

static struct {
    pthread_mutex_t lock;      /* guards every field below; serializes serve and stop */
    struct MHD_Daemon *daemon; /* the server, while serving */
    char token[TOKEN_MAX + 1]; /* the action token, while serving */
    size_t token_len;          /* strlen(token) */
    char host[64];             /* the bound address, as given ("::1", "127.0.0.1") */
    bool loopback;             /* the bound address is a loopback one: Host is checked */
    bool open_reads;           /* al_ui_options.open_reads: GET needs no token */
    /* The bound port, 0 when not serving; read without the lock (al_ui_port), because the
     * server thread asks for it (/api/widget) while al_ui_stop holds the lock and waits. */
    _Atomic uint16_t port;
} srv = {.lock = PTHREAD_MUTEX_INITIALIZER};

void al_ui_options_init(al_ui_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->sample_interval_ms = SAMPLE_MS_DEFAULT;
    o->timeline_capacity = CAPACITY_DEFAULT;
    o->open_reads = 0;
    o->listen_fd = -1;
}

/* -------- Token. -------- */

static int random_bytes(unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got == n)
        return AL_OK;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return AL_EIO;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    return got == n ? AL_OK : AL_EIO;
}

static bool token_valid(const char *t)
{
    size_t n = strlen(t);
    if (n < TOKEN_MIN || n > TOKEN_MAX)
        return false;
    return strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* Compares in time independent of where the strings differ. Called on the server thread while
 * serving, when srv.token does not change. */
static bool token_matches(const char *given)
{
    if (!given)
        return false;
    size_t n = strlen(given);
    unsigned char diff = n != srv.token_len;
    for (size_t i = 0; i < srv.token_len; i++)
        diff |= (unsigned char)srv.token[i] ^ (unsigned char)(i < n ? given[i] : 0);
    return diff == 0;
}

static bool request_token_ok(struct MHD_Connection *c)
{
    if (token_matches(MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token")))
        return true;
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    return auth && strncasecmp(auth, "Bearer ", 7) == 0 && token_matches(auth + 7);
}

/* -------- Requests. -------- */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static const char *query_arg(const ali_ui_request *rq, const char *key)
{
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, key);
}

static enum MHD_Result send_reply(struct MHD_Connection *c, ali_ui_reply *r)
{
    struct MHD_Response *resp =
        r->body ? MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE)
                : MHD_create_response_from_buffer(r->len, (void *)r->static_body,
                                                  MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(r->body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    /* uPlot sets element styles from script, hence 'unsafe-inline' for styles only. */
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                            "img-src 'self' data:; frame-ancestors 'none'");
    if (r->allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    /* One request per connection: each one comes in through the gate (gate.c). */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(c, r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *message)
{
    ali_ui_reply r;
    ali_ui_reply_error(&r, status, message);
    return send_reply(c, &r);
}

/* Against DNS rebinding: bound to loopback, a request must name loopback in its Host header,
 * so that a web page whose name resolves to 127.0.0.1 cannot read the figures. Bound to
 * another address (asked for explicitly), any Host is accepted. */
static bool host_allowed(struct MHD_Connection *c)
{
    if (!srv.loopback)
        return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (!h)
        return false;
    static const char *const names[] = {"127.0.0.1", "localhost", "[::1]"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n = strlen(names[i]);
        if (strncasecmp(h, names[i], n) == 0 &&
            (h[n] == '\0' || (h[n] == ':' && strspn(h + n + 1, "0123456789") == strlen(h + n + 1))))
            return true;
    }
    return false;
}

/* Percent-decoding of paths and query arguments, except %00: it stays as written, so a path
 * can never be cut short by a NUL ("/api/stats%00.js" matches nothing). */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    char *w = s;
    for (const char *r = s; *r; r++) {
        int hi, lo;
        if (r[0] == '%' && (hi = hexval(r[1])) >= 0 && (lo = hexval(r[2])) >= 0 && (hi | lo) != 0) {
            *w++ = (char)(hi * 16 + lo);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

/* Counts the request's headers named by cls (case-insensitively, as libmicrohttpd matches). */
static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    (void)value;
    struct {
        const char *name;
        unsigned n;
    } *want = cls;
    if (strcasecmp(key, want->name) == 0)
        want->n++;
    return MHD_YES;
}

static unsigned header_count(struct MHD_Connection *c, const char *name)
{
    struct {
        const char *name;
        unsigned n;
    } want = {name, 0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, &want);
    return want.n;
}

/* The checks made on the first call, before any body is read: 0 when the request may go on,
 * else the status of the reply sent (its message in *why). libmicrohttpd 0.9.75 sends the
 * status line and headers twice for a Content-Length of -1 or past 2^64 once the body is
 * read, and picks one of two Host headers, so both are refused here, while nothing has been
 * sent. */
static unsigned refuse_early(struct MHD_Connection *c, const char **why)
{
    if (header_count(c, MHD_HTTP_HEADER_HOST) > 1) {
        *why = "more than one Host header";
        return 400;
    }
    unsigned n_cl = header_count(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (n_cl > 1) {
        *why = "more than one Content-Length header";
        return 400;
    }
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl)
        return 0;
    size_t digits = strspn(cl, "0123456789");
    if (digits == 0 || cl[digits] != '\0') {
        *why = "Content-Length must be a whole number of bytes";
        return 400;
    }
    errno = 0;
    unsigned long long v = strtoull(cl, NULL, 10);
    if (errno == ERANGE || v > ALI_UI_BODY_MAX) {
        *why = ALI_UI_BODY_TOO_LARGE;
        return 413;
    }
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)version;
    (void)upload_data;
    ali_ui_pending *st = *con_cls;
    if (!st) {
        st = calloc(1, sizeof *st);
        if (!st)
            return MHD_NO;
        *con_cls = st;
        const char *why = NULL;
        unsigned status = refuse_early(c, &why);
        return status ? send_error(c, status, why) : MHD_YES;
    }
    if (*upload_data_size) {
        /* Bodies are counted, never kept: no route reads one. libmicrohttpd 0.9.75 refuses a
         * reply queued in the middle of a chunked body, so the 413 waits for its end. */
        st->body += *upload_data_size;
        *upload_data_size = 0;
        st->too_big |= st->body > ALI_UI_BODY_MAX;
        return MHD_YES;
    }
    if (atomic_load(&st->ready)) { /* a worker's answer, the connection resumed */
        atomic_store(&st->ready, false);
        return send_reply(c, &st->reply);
    }
    if (st->too_big)
        return send_error(c, 413, ALI_UI_BODY_TOO_LARGE);
    if (!host_allowed(c))
        return send_error(c, 400,
                          "the Host header must name the loopback address the dashboard is "
                          "bound to (127.0.0.1, localhost or [::1])");
    ali_ui_request rq = {.method = method, .path = url, .arg = query_arg, .conn = c};
    rq.token_ok = request_token_ok(c);
    rq.open_reads = srv.open_reads;
    if (ali_ui_route_is_slow(url) && ali_ui_offload(st, c, &rq))
        return MHD_YES;
    ali_ui_reply r;
    ali_ui_route(&rq, &r);
    return send_reply(c, &r);
}

void ali_ui_own_thread(void)
{
    if (ali_own_thread_hook)
        ali_own_thread_hook();
}

/* Runs on the server's thread as each connection opens: from the first, the thread's mallocs
 * are the dashboard's own, not the host program's (under `astrolab run --ui`). */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    (void)c;
    (void)socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        ali_ui_own_thread();
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    ali_ui_pending *st = *con_cls;
    /* A worker's answer never sent: the client went away while its connection was suspended. */
    if (st && atomic_load(&st->ready))
        free(st->reply.body);
    free(st);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[AL_LOG_MESSAGE_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    /* Mostly clients' mistakes (malformed or oversized requests): not the host's problem. */
    al_log(AL_LOG_INFO, "astrolab.ui", "http server: %s", msg);
}

/* -------- Serve and stop. -------- */

static int check_options(const al_ui_options *o, al_error *err)
{
    if (o->sample_interval_ms < SAMPLE_MS_MIN || o->sample_interval_ms > SAMPLE_MS_MAX)
        return al_error_set(err, AL_EINVAL, "sample_interval_ms %u is outside %u..%u",
                            o->sample_interval_ms, SAMPLE_MS_MIN, SAMPLE_MS_MAX);
    if (o->timeline_capacity < CAPACITY_MIN || o->timeline_capacity > CAPACITY_MAX)
        return al_error_set(err, AL_EINVAL, "timeline_capacity %u is outside %u..%u",
                            o->timeline_capacity, CAPACITY_MIN, CAPACITY_MAX);
    if (o->token && !token_valid(o->token))
        return al_error_set(err, AL_EINVAL,
                            "token must be %d to %d characters of A-Z, a-z, 0-9, '_' and '-'",
                            TOKEN_MIN, TOKEN_MAX);
    if (o->host && strlen(o->host) >= sizeof srv.host)
        return al_error_set(err, AL_EINVAL, "host \"%.40s...\" is too long", o->host);
    return AL_OK;
}

/* Fills *ss from host and port; false when host is not an IPv4 or IPv6 literal. */
static bool make_address(const char *host, uint16_t port, struct sockaddr_storage *ss, bool *v6)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(port);
        *v6 = false;
        return true;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        *v6 = true;
        return true;
    }
    return false;
}

/* The listening socket, ours: the gate (gate.c) reads each request head before libmicrohttpd
 * gets the connection. -1 with err filled on failure. */
static int listen_on(const struct sockaddr_storage *ss, bool v6, const char *host, uint16_t port,
                     al_error *err)
{
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
        one = 1;
    if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
        bind(fd, (const struct sockaddr *)ss,
             v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) == 0 &&
        listen(fd, LISTEN_BACKLOG) == 0)
        return fd;
    al_error_set(err, AL_EUI, "cannot serve on %s port %u: %s", host, port, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

/* A socket the caller bound (al_ui_options.listen_fd, as `astrolab run --ui` passes one to the
 * program): its address becomes ours. False (err filled) unless it is a listening TCP socket. */
static bool adopt(int fd, struct sockaddr_storage *ss, bool *v6, al_error *err)
{
    int listening = 0;
    socklen_t len = sizeof listening, slen = sizeof *ss;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening ||
        getsockname(fd, (struct sockaddr *)ss, &slen) != 0 ||
        (ss->ss_family != AF_INET && ss->ss_family != AF_INET6)) {
        al_error_set(err, AL_EINVAL, "listen_fd %d is not a listening TCP socket", fd);
        return false;
    }
    *v6 = ss->ss_family == AF_INET6;
    const void *a = *v6 ? (const void *)&((struct sockaddr_in6 *)ss)->sin6_addr
                        : (const void *)&((struct sockaddr_in *)ss)->sin_addr;
    inet_ntop(ss->ss_family, a, srv.host, sizeof srv.host);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return true;
}

static int start_daemon(const char *host, uint16_t port, int given_fd, al_error *err)
{
    struct sockaddr_storage ss;
    bool v6;
    if (given_fd > 0 ? !adopt(given_fd, &ss, &v6, err) : !make_address(host, port, &ss, &v6))
        return given_fd > 0 ? AL_EINVAL
                            : al_error_set(err, AL_EINVAL,
                                           "host \"%s\" is not an IPv4 or IPv6 address", host);
    srv.loopback = v6 ? IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr)
                      : (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
    int lfd = given_fd > 0 ? given_fd : listen_on(&ss, v6, host, port, err);
    if (lfd < 0)
        return AL_EUI;
    /* MHD_USE_AUTO picks epoll on Linux: no FD_SETSIZE cap on the connections. No listening
     * socket of its own: the gate hands it connections (MHD_USE_ITC lets another thread). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
    if (v6)
        flags |= MHD_USE_IPv6;
    errno = 0;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        NULL, MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL, MHD_OPTION_THREAD_POOL_SIZE,
        POOL_THREADS, MHD_OPTION_CONNECTION_LIMIT, CONN_LIMIT, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        srv.loopback ? 0u : PER_IP_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT, CONN_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONN_MEMORY_LIMIT, MHD_OPTION_END);
    if (!d) {
        if (given_fd <= 0)
            close(lfd); /* a given one stays the caller's */
        return al_error_set(err, AL_EUI, "cannot serve on %s port %u: %s", host, port,
                            errno ? strerror(errno) : "the HTTP server did not start");
    }
    int rc = ali_ui_gate_start(lfd, d, srv.loopback ? 0u : PER_IP_LIMIT);
    if (rc != AL_OK) {
        MHD_stop_daemon(d);
        if (given_fd <= 0)
            close(lfd); /* a given one stays the caller's */
        return al_error_set(err, rc, "cannot start the dashboard's accepting thread");
    }
    socklen_t len = sizeof ss;
    getsockname(lfd, (struct sockaddr *)&ss, &len);
    srv.daemon = d;
    srv.port =
        ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
    return AL_OK;
}

int al_ui_serve(const al_ui_options *opts, al_error *err)
{
    al_error_clear(err);
    al_ui_options o;
    al_ui_options_init(&o);
    if (opts)
        o = *opts;
    int rc = check_options(&o, err);
    if (rc != AL_OK)
        return rc;
    const char *host = o.host ? o.host : "127.0.0.1";
    pthread_mutex_lock(&srv.lock);
    if (srv.daemon) {
        pthread_mutex_unlock(&srv.lock);
        return al_error_set(err, AL_ESTATE, "the dashboard is already served on port %u",
                            (unsigned)atomic_load(&srv.port));
    }
    if (o.token) {
        snprintf(srv.token, sizeof srv.token, "%s", o.token);
    } else {
        unsigned char raw[TOKEN_RANDOM_BYTES];
        if (random_bytes(raw, sizeof raw) != AL_OK) {
            pthread_mutex_unlock(&srv.lock);
            return al_error_set(err, AL_EIO, "cannot read random bytes for the token");
        }
        for (size_t i = 0; i < sizeof raw; i++)
            snprintf(srv.token + 2 * i, 3, "%02x", raw[i]);
    }
    srv.token_len = strlen(srv.token);
    srv.open_reads = o.open_reads != 0;
    snprintf(srv.host, sizeof srv.host, "%s", host);
    rc = ali_timeline_start(o.sample_interval_ms, o.timeline_capacity);
    if (rc != AL_OK) {
        pthread_mutex_unlock(&srv.lock);
        return al_error_set(err, rc, "cannot start the timeline sampler: %s", al_strerror(rc));
    }
    rc = ali_ui_workers_start();
    if (rc != AL_OK) {
        ali_timeline_stop();
        pthread_mutex_unlock(&srv.lock);
        return al_error_set(err, rc, "cannot start the dashboard's worker threads");
    }
    rc = start_daemon(host, o.port, o.listen_fd, err);
    if (rc != AL_OK) {
        ali_ui_workers_stop();
        ali_timeline_stop();
        memset(srv.token, 0, sizeof srv.token);
        pthread_mutex_unlock(&srv.lock);
        al_log(AL_LOG_ERROR, "astrolab.ui", "%s", err ? err->message : "cannot start the server");
        return rc;
    }
    al_log(AL_LOG_INFO, "astrolab.ui", "dashboard serving on %s port %u", srv.host,
           (unsigned)atomic_load(&srv.port));
    if (!srv.loopback)
        al_log(AL_LOG_WARNING, "astrolab.ui",
               "the dashboard is bound to %s, beyond loopback: whoever reaches port %u can try "
               "the token%s",
               srv.host, (unsigned)atomic_load(&srv.port),
               srv.open_reads ? ", and reads the figures without it (open_reads)" : "");
    pthread_mutex_unlock(&srv.lock);
    return AL_OK;
}

int al_ui_stop(void)
{
    pthread_mutex_lock(&srv.lock);
    if (!srv.daemon) {
        pthread_mutex_unlock(&srv.lock);
        return AL_ESTATE;
    }
    /* Workers first: their requests' connections resume, and later slow requests are answered
     * on the server threads. Then the server, which finishes the replies under way. */
    ali_ui_gate_stop(); /* no new connection */
    ali_ui_workers_stop();
    MHD_stop_daemon(srv.daemon);
    srv.daemon = NULL;
    srv.port = 0;
    memset(srv.token, 0, sizeof srv.token);
    srv.token_len = 0;
    ali_timeline_stop();
    ali_ui_routes_reset();
    pthread_mutex_unlock(&srv.lock);
    return AL_OK;
}

uint16_t al_ui_port(void) { return atomic_load(&srv.port); }

char *al_ui_url(void)
{
    pthread_mutex_lock(&srv.lock);
    char *url = NULL;
    if (srv.daemon) {
        bool v6 = strchr(srv.host, ':') != NULL;
        size_t n = strlen(srv.host) + srv.token_len + 48;
        url = malloc(n);
        if (url)
            snprintf(url, n, "http://%s%s%s:%u/?token=%s", v6 ? "[" : "", srv.host, v6 ? "]" : "",
                     (unsigned)atomic_load(&srv.port), srv.token);
    }
    pthread_mutex_unlock(&srv.lock);
    return url;
}
