/* libmicrohttpd, loaded when the dashboard first needs it. Linked, it brought gnutls, p11-kit
 * and their constructors (about 700 allocations before main) into every program under
 * `astrolab run` and into every user of libastrolab, though only a dashboard uses it. This file
 * defines the MHD_* functions server.c and sysinfo.c call (add one here when they call another),
 * with the library's own prototypes (from <microhttpd.h>): each forwards to the real one, found
 * on first use (util/dl_int.h: every symbol or none). Hidden like every internal name, so they
 * never interpose on a program's own libmicrohttpd. Without the library, MHD_start_daemon fails
 * (the dashboard says it cannot serve) and MHD_get_version gives NULL; nothing else is reached
 * without a daemon. */
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/dl_int.h"

#define MHD_SONAME "libmicrohttpd.so.12" /* Debian 12's libmicrohttpd12 */

static struct {
    pthread_once_t once;
    void *lib;
    struct MHD_Daemon *(*start_daemon_va)(unsigned int, uint16_t, MHD_AcceptPolicyCallback, void *,
                                          MHD_AccessHandlerCallback, void *, va_list);
    void (*stop_daemon)(struct MHD_Daemon *);
    enum MHD_Result (*add_connection)(struct MHD_Daemon *, MHD_socket, const struct sockaddr *,
                                      socklen_t);
    const union MHD_DaemonInfo *(*get_daemon_info)(struct MHD_Daemon *, enum MHD_DaemonInfoType,
                                                   ...);
    const char *(*lookup_connection_value)(struct MHD_Connection *, enum MHD_ValueKind,
                                           const char *);
    int (*get_connection_values)(struct MHD_Connection *, enum MHD_ValueKind, MHD_KeyValueIterator,
                                 void *);
    void (*suspend_connection)(struct MHD_Connection *);
    void (*resume_connection)(struct MHD_Connection *);
    struct MHD_Response *(*create_response_from_buffer)(size_t, void *,
                                                        enum MHD_ResponseMemoryMode);
    enum MHD_Result (*add_response_header)(struct MHD_Response *, const char *, const char *);
    enum MHD_Result (*queue_response)(struct MHD_Connection *, unsigned int, struct MHD_Response *);
    void (*destroy_response)(struct MHD_Response *);
    const char *(*get_version)(void);
} mhd = {.once = PTHREAD_ONCE_INIT};

static void load(void)
{
    /* Debian's soname, then another soname elsewhere. */
    static const char *const sonames[] = {MHD_SONAME, "libmicrohttpd.so", NULL};
#define SYM(field, name)                                                                           \
    {                                                                                              \
        name, offsetof(__typeof__(mhd), field)                                                     \
    }
    static const ali_dl_symbol symbols[] = {
        SYM(start_daemon_va, "MHD_start_daemon_va"),
        SYM(stop_daemon, "MHD_stop_daemon"),
        SYM(add_connection, "MHD_add_connection"),
        SYM(get_daemon_info, "MHD_get_daemon_info"),
        SYM(lookup_connection_value, "MHD_lookup_connection_value"),
        SYM(get_connection_values, "MHD_get_connection_values"),
        SYM(suspend_connection, "MHD_suspend_connection"),
        SYM(resume_connection, "MHD_resume_connection"),
        SYM(create_response_from_buffer, "MHD_create_response_from_buffer"),
        SYM(add_response_header, "MHD_add_response_header"),
        SYM(queue_response, "MHD_queue_response"),
        SYM(destroy_response, "MHD_destroy_response"),
        SYM(get_version, "MHD_get_version"),
    };
#undef SYM
    char why[256]; /* the dashboard says it cannot serve; no caller asks why */
    mhd.lib =
        ali_dl_load(sonames, symbols, sizeof symbols / sizeof symbols[0], &mhd, why, sizeof why);
}

static bool loaded(void)
{
    pthread_once(&mhd.once, load);
    return mhd.lib != NULL;
}

struct MHD_Daemon *MHD_start_daemon(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc,
                                    void *apc_cls, MHD_AccessHandlerCallback dh, void *dh_cls, ...)
{
    if (!loaded())
        return NULL;
    va_list ap;
    va_start(ap, dh_cls);
    struct MHD_Daemon *d = mhd.start_daemon_va(flags, port, apc, apc_cls, dh, dh_cls, ap);
    va_end(ap);
    return d;
}

void MHD_stop_daemon(struct MHD_Daemon *daemon) { mhd.stop_daemon(daemon); }

enum MHD_Result MHD_add_connection(struct MHD_Daemon *daemon, MHD_socket client_socket,
                                   const struct sockaddr *addr, socklen_t addrlen)
{
    return mhd.add_connection(daemon, client_socket, addr, addrlen);
}

/* The info types server.c asks for take no further argument (MHD_DAEMON_INFO_BIND_PORT). */
const union MHD_DaemonInfo *MHD_get_daemon_info(struct MHD_Daemon *daemon,
                                                enum MHD_DaemonInfoType info_type, ...)
{
    return mhd.get_daemon_info(daemon, info_type);
}

const char *MHD_lookup_connection_value(struct MHD_Connection *connection, enum MHD_ValueKind kind,
                                        const char *key)
{
    return mhd.lookup_connection_value(connection, kind, key);
}

int MHD_get_connection_values(struct MHD_Connection *connection, enum MHD_ValueKind kind,
                              MHD_KeyValueIterator iterator, void *iterator_cls)
{
    return mhd.get_connection_values(connection, kind, iterator, iterator_cls);
}

void MHD_suspend_connection(struct MHD_Connection *connection)
{
    mhd.suspend_connection(connection);
}

void MHD_resume_connection(struct MHD_Connection *connection) { mhd.resume_connection(connection); }

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer,
                                                     enum MHD_ResponseMemoryMode mode)
{
    return mhd.create_response_from_buffer(size, buffer, mode);
}

enum MHD_Result MHD_add_response_header(struct MHD_Response *response, const char *header,
                                        const char *content)
{
    return mhd.add_response_header(response, header, content);
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *connection, unsigned int status_code,
                                   struct MHD_Response *response)
{
    return mhd.queue_response(connection, status_code, response);
}

void MHD_destroy_response(struct MHD_Response *response) { mhd.destroy_response(response); }

const char *MHD_get_version(void) { return loaded() ? mhd.get_version() : NULL; }
