/*
 * Connection limits libmicrohttpd 0.9.75 does not enforce: a deadline for the request head
 * (and body) however slowly its bytes arrive, a short keep-alive idle time, a send timeout
 * for clients that stop reading, and room for a new client when the connection limit is
 * reached (an idle keep-alive connection, or one silent since it was opened, is closed, as
 * nginx and h2o do with idle keep-alive connections, instead of leaving the newcomer in the
 * kernel backlog until some timeout).
 *
 * Why shutdown() on MHD's socket is safe here: MHD runs without threads of its own, under the
 * libuv loop (daemon.h), so the connection notifications, the access handler and the checks
 * below all run on the loop thread. An hl_conn_t is in d->conns from MHD's "started" to its
 * "closed" notification, and MHD closes the socket only after the latter; so whenever an
 * entry is in the list its fd is still that connection's socket and cannot have been reused
 * by another accept. (With MHD threads this would need the notification and the check under
 * one lock.) shutdown() rather than close(): MHD still owns the fd; it sees EOF/HUP, ends the
 * connection through its normal path (completion callback, notification), then closes it.
 */
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "server/daemon.h"

/* The kernel's last-receive time has jiffy resolution and the previous request's last bytes
 * arrive just before the connection turns idle: data counts as "after idle" only when it came
 * this much later. */
#define HL__RECV_SLACK 0.25
/* Seconds a new connection must have been silent before it may be closed to make room. */
#define HL__EVICT_GRACE 1.0

static hl_conn_t *hl__conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* MHD's own inactivity timeout for this connection, in whole seconds (at least 1). */
static void hl__conn_set_timeout(struct MHD_Connection *conn, double seconds)
{
    double s = ceil(seconds);
    unsigned t = s < 1 ? 1 : s > 86400.0 * 365 ? 86400u * 365 : (unsigned)s;
    MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, t);
}

void hl__conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode toe)
{
    hl_daemon_t *d = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        d->n_conns++;
        hl_conn_t *c = calloc(1, sizeof *c);
        /* Without memory the connection is served, just not tracked by the deadlines. */
        if (c) {
            c->mhd = conn;
            c->phase = HL_CONN_FRESH;
            c->t_mark = hl_now();
            c->next = d->conns;
            if (d->conns)
                d->conns->prev = c;
            d->conns = c;
        }
        *socket_context = c;
    } else {
        if (d->n_conns)
            d->n_conns--;
        hl_conn_t *c = *socket_context;
        *socket_context = NULL;
        if (c) {
            if (c->prev)
                c->prev->next = c->next;
            else
                d->conns = c->next;
            if (c->next)
                c->next->prev = c->prev;
            free(c);
        }
    }
    hl_metric_set(d->m.connections, NULL, d->n_conns);
}

void hl__conn_head(hl_daemon_t *d, struct MHD_Connection *conn, bool has_body)
{
    hl_conn_t *c = hl__conn_of(conn);
    if (!c)
        return;
    c->phase = has_body ? HL_CONN_BODY : HL_CONN_BUSY;
    c->t_mark = hl_now();
    /* From here MHD's inactivity limit is the send timeout: a client that stops reading its
     * response (or sending its body) is closed after send_timeout without progress. MHD does
     * not time out suspended connections, so waiting for a generation does not count. */
    hl__conn_set_timeout(conn, d->cfg->send_timeout);
}

void hl__conn_body_done(hl_daemon_t *d, struct MHD_Connection *conn)
{
    (void)d;
    hl_conn_t *c = hl__conn_of(conn);
    if (c && c->phase == HL_CONN_BODY) {
        c->phase = HL_CONN_BUSY;
        c->t_mark = hl_now();
    }
}

/* Seconds since the kernel last received data on conn's socket (0 when unknown, so an
 * unknown state counts as "data arrived": the longer limit applies). */
static double hl__conn_quiet_for(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    if (!ci || getsockopt(ci->connect_fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
        return 0;
    return ti.tcpi_last_data_recv / 1000.0;
}

/* Bytes the client sent that libmicrohttpd has not read yet (0 when unknown). */
static int hl__conn_unread(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    int n = 0;
    if (!ci || ioctl(ci->connect_fd, FIONREAD, &n) != 0)
        return 0;
    return n;
}

void hl__conn_request_done(hl_daemon_t *d, struct MHD_Connection *conn)
{
    (void)d;
    hl_conn_t *c = hl__conn_of(conn);
    if (!c)
        return;
    /* The keep-alive time is enforced here rather than with MHD's per-connection timeout:
     * MHD may be closing the connection when this runs (completion callback), where
     * changing its timeout lists is not safe. The time of the last data received tells an
     * idle connection from one whose next request head is arriving. */
    c->phase = HL_CONN_IDLE;
    c->t_mark = hl_now();
    c->n_requests++;
}

static void hl__conn_close(hl_daemon_t *d, hl_conn_t *c, const char *reason, double age)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c->mhd, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return;
    c->closing = true;
    shutdown(ci->connect_fd, SHUT_RDWR);
    const char *labels[] = {reason};
    hl_metric_add(d->m.conn_closed, labels, 1);
    hl_log_debug("connection fd %d closed: %s (%.1f s in this phase, %u requests served)",
                 (int)ci->connect_fd, reason, age, c->n_requests);
}

/* True when a client waits in the listen socket's backlog (MHD stops accepting at its
 * connection limit, so the listen socket stays readable). */
static bool hl__client_waiting(hl_daemon_t *d)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_LISTEN_FD);
    if (!info || info->listen_fd == MHD_INVALID_SOCKET)
        return false;
    struct pollfd p = {.fd = info->listen_fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* May c be closed to make room? An idle keep-alive connection may (its client reconnects);
 * a new connection only once it has been silent for a while: one whose head is arriving,
 * or was just accepted with its bytes not read yet, is a client about to be served. */
static bool hl__evictable(hl_conn_t *c)
{
    if (c->phase == HL_CONN_IDLE)
        return true;
    /* The kernel's last-receive time starts at the handshake, so time spent in the listen
     * backlog counts: a flood connection accepted just now can go at once. */
    /* ...and only if nothing it sent waits unread: a client that sent its whole request
     * while queued in the backlog is quiet because it is waiting to be served. */
    return c->phase == HL_CONN_FRESH && hl__conn_quiet_for(c->mhd) >= HL__EVICT_GRACE &&
           hl__conn_unread(c->mhd) == 0;
}

bool hl__conns_enforce(hl_daemon_t *d)
{
    if (!d->mhd)
        return false;
    const hl_config_t *cfg = d->cfg;
    double now = hl_now();
    bool closed = false;
    unsigned open = 0;
    for (hl_conn_t *c = d->conns; c; c = c->next) {
        if (c->closing)
            continue;
        open++;
        double age = now - c->t_mark;
        if (c->phase == HL_CONN_IDLE && age > cfg->keepalive_timeout &&
            hl__conn_quiet_for(c->mhd) < age - HL__RECV_SLACK) {
            /* A next request is arriving: its head gets header_timeout from the end of the
             * keep-alive time, like a fresh connection's from accept. */
            c->phase = HL_CONN_FRESH;
            c->t_mark += cfg->keepalive_timeout;
            age = now - c->t_mark;
        }
        double limit = c->phase == HL_CONN_FRESH  ? cfg->header_timeout
                       : c->phase == HL_CONN_BODY ? cfg->header_timeout
                       : c->phase == HL_CONN_IDLE ? cfg->keepalive_timeout
                                                  : INFINITY;
        if (age > limit) {
            hl__conn_close(d, c,
                           c->phase == HL_CONN_BODY   ? "body_timeout"
                           : c->phase == HL_CONN_IDLE ? "keepalive_timeout"
                                                      : "header_timeout",
                           age);
            closed = true;
            open--;
        }
    }
    /* At the limit with a newcomer waiting: a connection without a request in progress makes
     * room. Closing an idle keep-alive connection costs its client one reconnect (HTTP
     * clients expect it); a connection that has sent nothing for a while is what idle-flood
     * clients hold. Requests in progress, and heads still arriving, are never cut. (The
     * candidates are looked at only then: each costs a getsockopt.) */
    if (d->draining || open < d->conn_limit || !hl__client_waiting(d))
        return closed;
    hl_conn_t *victim = NULL;
    for (hl_conn_t *c = d->conns; c; c = c->next) {
        if (c->closing || !hl__evictable(c))
            continue;
        /* idle keep-alive connections go before silent new ones, oldest first */
        if (!victim || (c->phase == HL_CONN_IDLE && victim->phase != HL_CONN_IDLE) ||
            (c->phase == victim->phase && c->t_mark < victim->t_mark))
            victim = c;
    }
    if (victim) {
        hl__conn_close(d, victim, "evicted_for_new_client", now - victim->t_mark);
        closed = true;
    }
    return closed;
}
