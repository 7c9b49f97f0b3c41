/* libmicrohttpd under the libuv loop, request lifecycle and the one HTTP error path. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "server/auth.h"
#include "server/daemon.h"

/* Upper bound between two MHD_run calls even when MHD has no timeout to report: a safety
 * net, cheap at this rate. */
#define HL__MHD_MAX_WAIT_MS 1000

static void hl__mhd_timer_cb(uv_timer_t *t);

static void hl__mhd_rearm(hl_daemon_t *d)
{
    if (!d->mhd)
        return;
    MHD_UNSIGNED_LONG_LONG to = HL__MHD_MAX_WAIT_MS;
    if (MHD_get_timeout(d->mhd, &to) != MHD_YES || to > HL__MHD_MAX_WAIT_MS)
        to = HL__MHD_MAX_WAIT_MS;
    uv_timer_start(&d->mhd_timer, hl__mhd_timer_cb, (uint64_t)to, 0);
}

static void hl__mhd_run(hl_daemon_t *d)
{
    if (!d->mhd)
        return;
    MHD_run(d->mhd);
    /* A socket shut down by conns.c is closed by MHD on its next run, and the listen socket
     * is watched again (and the waiting client accepted) only on the run after: a few
     * immediate runs follow every such close instead of waiting for MHD's timer. */
    if (d->conns && hl__conns_enforce(d))
        d->extra_runs = 3;
    if (d->extra_runs) {
        d->extra_runs--;
        hl__http_kick(d);
    } else {
        hl__mhd_rearm(d);
    }
}

static void hl__mhd_timer_cb(uv_timer_t *t) { hl__mhd_run(t->data); }

static void hl__mhd_poll_cb(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    hl__mhd_run(p->data);
}

void hl__http_kick(hl_daemon_t *d)
{
    if (d->mhd)
        uv_timer_start(&d->mhd_timer, hl__mhd_timer_cb, 0, 0);
}

void hl__req_resume(hl_req_t *r)
{
    if (!r->suspended)
        return;
    r->suspended = false;
    MHD_resume_connection(r->conn);
    hl__http_kick(r->d);
}

void hl__req_count(hl_req_t *r, unsigned status)
{
    if (r->status)
        return;
    r->status = (int)status;
    char code[8];
    snprintf(code, sizeof code, "%u", status);
    const char *labels[] = {r->route.name, code};
    hl_metric_add(r->d->m.requests, labels, 1);
    hl_metric_observe(r->d->m.request_seconds, labels, hl_now() - r->t_start);
}

static enum MHD_Result hl__queue(hl_req_t *r)
{
    struct MHD_Response *resp = r->reply;
    unsigned status = r->reply_status;
    r->reply = NULL;
    r->state = r->reply_stream ? HL_REQ_STREAM : HL_REQ_DONE;
    hl__req_count(r, status);
    enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result hl__req_send(hl_req_t *r, unsigned status, struct MHD_Response *resp,
                             bool stream, bool now)
{
    if (!resp)
        return MHD_NO;
    if (r->reply)
        MHD_destroy_response(r->reply);
    r->reply = resp;
    r->reply_status = status;
    r->reply_stream = stream;
    r->state = HL_REQ_REPLY;
    if (now)
        return hl__queue(r);
    hl__req_resume(r);
    return MHD_YES;
}

struct MHD_Response *hl__resp_body(char *body, size_t len, const char *ctype)
{
    struct MHD_Response *resp;
    if (body)
        resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    else
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        return NULL;
    }
    if (ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    return resp;
}

enum MHD_Result hl__req_reply(hl_req_t *r, unsigned status, const char *ctype, char *body,
                              size_t len, bool now)
{
    return hl__req_send(r, status, hl__resp_body(body, len, ctype), false, now);
}

enum MHD_Result hl__req_error(hl_req_t *r, const hl_oai_error_t *e, bool now)
{
    size_t len = 0;
    char *body = hl_oai_error_render(e, &len);
    struct MHD_Response *resp = body ? hl__resp_body(body, len, "application/json") : NULL;
    if (!resp)
        return MHD_NO;
    if (e->retry_after) {
        char ra[16];
        snprintf(ra, sizeof ra, "%u", e->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (e->status == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (e->status == 405 && r->route.allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->route.allow);
    return hl__req_send(r, (unsigned)e->status, resp, false, now);
}

/* ---- the access handler ---- */

static enum MHD_Result hl__deny(hl_req_t *r, int status, const char *code, const char *fmt,
                                const char *arg)
{
    hl_oai_error_t e;
    hl_oai_error_set(&e, status, NULL, code, fmt, arg);
    return hl__req_error(r, &e, true);
}

/* Decisions that need only the request line and headers. @return true when answered. */
static bool hl__first_call(hl_req_t *r, const char *method, const char *url,
                           enum MHD_Result *ret)
{
    hl_daemon_t *d = r->d;
    hl_route_match(method, url, &r->route);
    if (d->draining) {
        hl_oai_error_t e;
        hl_oai_error_set(&e, 503, NULL, NULL, "the server is shutting down");
        *ret = hl__req_error(r, &e, true);
        return true;
    }
    if (r->route.id == HL_ROUTE_NOT_FOUND) {
        *ret = hl__deny(r, 404, NULL, "Unknown request URL: %s. See the README for the routes.",
                        url);
        return true;
    }
    if (!r->route.method_ok) {
        *ret = hl__deny(r, 405, NULL, "Method not allowed here: %s", method);
        return true;
    }
    const char *key_name = NULL;
    const char *authz =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    switch (hl_auth_check(d->cfg, &r->route, authz, &key_name)) {
    case HL_AUTH_OK:
        break;
    case HL_AUTH_MISSING:
        *ret = hl__deny(r, 401, HL_OAI_CODE_INVALID_API_KEY,
                        "%s", "You didn't provide an API key. Send \"Authorization: Bearer KEY\".");
        return true;
    case HL_AUTH_INVALID: {
        hl_oai_error_t e;
        hl_oai_error_invalid_api_key(&e);
        *ret = hl__req_error(r, &e, true);
        return true;
    }
    case HL_AUTH_FORBIDDEN:
        hl_log_info("key \"%s\" lacks the scope for %s", key_name ? key_name : "?", r->route.name);
        *ret = hl__deny(r, 403, NULL, "This API key does not have the scope needed for %s.",
                        r->route.name);
        return true;
    }
    /* GET /admin/models/pull?model=ID (the pull's status) has no body; its POST has one. */
    if (r->route.has_body && strcmp(method, "POST") == 0) {
        const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        uint64_t n;
        if (cl && hl_config_parse_size(cl, &n) == 0 && n > d->cfg->body_limit) {
            char lim[32];
            snprintf(lim, sizeof lim, "%llu", (unsigned long long)d->cfg->body_limit);
            *ret = hl__deny(r, 413, NULL, "The request body is larger than %s bytes.", lim);
            return true;
        }
        return false; /* the body comes in the next calls */
    }
    /* A request without a body is answered on the next call: libmicrohttpd 0.9.75 closes the
     * connection after a response queued in the first call (it cannot know yet that no body
     * follows), which would defeat keep-alive for every GET. Refusals above stay immediate:
     * closing after them is fine. */
    r->state = HL_REQ_ANSWER;
    return false;
}

/* GET/HEAD routes (no body), on the access handler's second call. */
static enum MHD_Result hl__answer(hl_req_t *r, const char *method)
{
    hl_daemon_t *d = r->d;
    hl_oai_error_t e;
    if (r->route.id == HL_ROUTE_BLOB || r->route.id == HL_ROUTE_MANIFEST) {
        hl_entry_t *m = hl__registry_find(d, r->route.model);
        if (!m || !m->dist) {
            hl_oai_error_model_not_found(&e, r->route.model);
            return hl__req_error(r, &e, true);
        }
        /* dist queues its own response (with its own counters); we count it as served */
        r->state = HL_REQ_DONE;
        return r->route.id == HL_ROUTE_BLOB
                   ? hl_dist_handle_blob(d->dist, m->dist, r->conn, method)
                   : hl_dist_handle_manifest(d->dist, m->dist, r->conn, method);
    }
    if (r->route.id == HL_ROUTE_ADMIN_PULL) { /* GET ?model=ID: the pull's status */
        const char *id = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "model");
        r->state = HL_REQ_DONE;
        if (!id || !hl__registry_find(d, id)) {
            hl_oai_error_model_not_found(&e, id ? id : "");
            return hl__req_error(r, &e, true);
        }
        return hl_dist_handle_pull_status(d->dist, r->conn, id);
    }
    return hl__handle_info(r);
}

/* POST /admin/models/pull with {"model": "<id>"}. */
static enum MHD_Result hl__admin_pull(hl_req_t *r)
{
    hl_oai_error_t e;
    json_error_t jerr;
    json_t *root = json_loadb(r->body ? r->body : "", r->body_len, 0, &jerr);
    const char *id = root ? json_string_value(json_object_get(root, "model")) : NULL;
    if (!id) {
        json_decref(root);
        hl_oai_error_set(&e, 400, "model", NULL,
                         "expected a JSON body {\"model\": \"<configured model id>\"}");
        return hl__req_error(r, &e, true);
    }
    hl_entry_t *m = hl__registry_find(r->d, id);
    if (!m) {
        hl_oai_error_model_not_found(&e, id);
        json_decref(root);
        return hl__req_error(r, &e, true);
    }
    json_decref(root);
    r->state = HL_REQ_DONE;
    return hl_dist_handle_admin_pull(r->d->dist, r->conn, m->conf.id, m->conf.path,
                                     hl__registry_pull_done, NULL);
}

static enum MHD_Result hl__access(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    hl_daemon_t *d = cls;
    hl_req_t *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->d = d;
        r->conn = conn;
        r->t_start = hl_now();
        r->next = d->reqs;
        if (d->reqs)
            d->reqs->prev = r;
        d->reqs = r;
        *con_cls = r;
        hl__conn_head(d, conn, true);
        enum MHD_Result ret = MHD_YES;
        if (hl__first_call(r, method, url, &ret)) {
            hl__conn_body_done(d, conn);
            return ret;
        }
        return MHD_YES;
    }
    switch (r->state) {
    case HL_REQ_REPLY:
        return hl__queue(r);
    case HL_REQ_ANSWER:
        if (*upload_data_size) { /* a body where none belongs: dropped */
            *upload_data_size = 0;
            return MHD_YES;
        }
        hl__conn_body_done(d, conn);
        return hl__answer(r, method);
    case HL_REQ_BODY:
        break;
    default:
        return MHD_YES; /* suspended work resumes through hl__req_send */
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        uint64_t need;
        if (r->too_large || !hl_add_ok(r->body_len, n, &need) || need > r->d->cfg->body_limit) {
            r->too_large = true; /* keep reading (and dropping) so the 413 reaches the client */
            return MHD_YES;
        }
        if (need + 1 > r->body_cap) {
            size_t cap = r->body_cap ? r->body_cap : 4096;
            while (cap < need + 1)
                cap *= 2;
            char *b = realloc(r->body, cap);
            if (!b)
                return MHD_NO;
            r->body = b;
            r->body_cap = cap;
        }
        memcpy(r->body + r->body_len, upload_data, n);
        r->body_len += n;
        r->body[r->body_len] = '\0';
        return MHD_YES;
    }
    hl__conn_body_done(d, conn);
    if (r->too_large) {
        char lim[32];
        snprintf(lim, sizeof lim, "%llu", (unsigned long long)d->cfg->body_limit);
        return hl__deny(r, 413, NULL, "The request body is larger than %s bytes.", lim);
    }
    if (r->route.id == HL_ROUTE_ADMIN_PULL)
        return hl__admin_pull(r);
    return hl__gen_start(r);
}

static void hl__completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                          enum MHD_RequestTerminationCode toe)
{
    hl_daemon_t *d = cls;
    hl_req_t *r = *con_cls;
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        hl__conn_request_done(d, conn);
    if (!r)
        return;
    *con_cls = NULL;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && r->job)
        hl_log_info("%s: connection ended before the response was complete (%s): generation "
                    "cancelled",
                    r->route.name,
                    toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED
                        ? "send_timeout: the client did not read"
                        : "the client went away");
    hl__gen_dispose(r);
    if (r->reply)
        MHD_destroy_response(r->reply);
    free(r->body);
    if (r->prev)
        r->prev->next = r->next;
    else
        d->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    free(r);
    hl__daemon_req_gone(d);
}

/*
 * MHD does not watch suspended connections, so a client that leaves while its request waits
 * (queued, loading, or a non-streamed generation) would hold its slot until the end. The
 * TCP state tells: the peer's FIN moves the socket to CLOSE_WAIT. (recv(MSG_PEEK) cannot be
 * used: MHD shuts down the read side itself once a request is in, which also reads as EOF.)
 * A client that half-closes its sending side on purpose is taken as gone too; HTTP clients
 * do not do that.
 */
void hl__http_check_disconnects(hl_daemon_t *d)
{
    for (hl_req_t *r = d->reqs; r; r = r->next) {
        if (!r->suspended)
            continue;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci)
            continue;
        struct tcp_info ti;
        socklen_t len = sizeof ti;
        if (getsockopt(ci->connect_fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
            continue;
        if (ti.tcpi_state != TCP_CLOSE_WAIT && ti.tcpi_state != TCP_CLOSE)
            continue;
        /* Cancel now, then let MHD see the closed socket and end the request. */
        hl_log_debug("%s: client closed the connection while waiting (TCP state %u, fd %d, "
                     "state %d): cancelled",
                     r->route.name, (unsigned)ti.tcpi_state, (int)ci->connect_fd, (int)r->state);
        hl__gen_dispose(r);
        hl_oai_error_t e;
        hl_oai_error_set(&e, 400, NULL, NULL, "client closed the connection");
        hl__req_error(r, &e, false);
    }
}

/* ---- start / stop ---- */

static int hl__sockaddr(const char *host, uint16_t port, struct sockaddr_storage *ss,
                        bool *v6)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(port);
        *v6 = false;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        *v6 = true;
        return 0;
    }
    return HL_EINVAL;
}

int hl__http_start(hl_daemon_t *d, hl_error_t *err)
{
    const char *host = d->opts.listen ? d->opts.listen : d->cfg->listen;
    uint16_t port = d->opts.port >= 0 ? (uint16_t)d->opts.port : d->cfg->port;
    struct sockaddr_storage ss;
    bool v6;
    if (hl__sockaddr(host, port, &ss, &v6) != 0)
        return hl_error_set(err, HL_ECONFIG, "listen: \"%s\" is not an IPv4 or IPv6 address",
                            host);
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (v6)
        flags |= MHD_USE_IPv6;
    /* MHD's own (inactivity) timeout for a connection that has not sent a request head yet;
     * conns.c sets it per connection once a request starts (send_timeout) and when it
     * becomes idle (keepalive_timeout), and enforces the absolute head/body deadlines. */
    unsigned timeout = (unsigned)ceil(d->cfg->header_timeout);
    d->mhd = MHD_start_daemon(
        flags, port, NULL, NULL, hl__access, d, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, d->cfg->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, d->cfg->max_connections_per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT,
        timeout ? timeout : 1, MHD_OPTION_NOTIFY_COMPLETED, hl__completed, d,
        MHD_OPTION_NOTIFY_CONNECTION, hl__conn_notify, d,
        /* main() ignores SIGPIPE for the whole process; telling MHD so lets it use
         * sendfile() for fd responses (zero-copy blobs) under our external loop. */
        MHD_OPTION_SIGPIPE_HANDLED_BY_APP, (int)1, MHD_OPTION_END);
    if (!d->mhd)
        return hl_error_set_errno(err, HL_EIO, errno, "cannot listen on %s port %u", host,
                                  (unsigned)port);
    d->conn_limit = d->cfg->max_connections;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_BIND_PORT);
    d->bound_port = info ? info->port : port;
    info = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    if (!info) {
        MHD_stop_daemon(d->mhd);
        d->mhd = NULL;
        return hl_error_set(err, HL_EINTERNAL, "libmicrohttpd did not give its epoll fd");
    }
    uv_poll_init(&d->loop, &d->mhd_poll, info->epoll_fd);
    d->mhd_poll.data = d;
    uv_poll_start(&d->mhd_poll, UV_READABLE, hl__mhd_poll_cb);
    uv_timer_init(&d->loop, &d->mhd_timer);
    d->mhd_timer.data = d;
    hl__mhd_rearm(d);
    if (v6)
        hl_log_info("listening on http://[%s]:%u", host, (unsigned)d->bound_port);
    else
        hl_log_info("listening on http://%s:%u", host, (unsigned)d->bound_port);
    return 0;
}

void hl__http_quiesce(hl_daemon_t *d)
{
    if (!d->mhd)
        return;
    MHD_socket fd = MHD_quiesce_daemon(d->mhd);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

void hl__http_stop(hl_daemon_t *d)
{
    if (!d->mhd)
        return;
    /* The poll handle leaves the loop's epoll set before MHD closes the fd it watches. */
    uv_close((uv_handle_t *)&d->mhd_poll, NULL);
    uv_close((uv_handle_t *)&d->mhd_timer, NULL);
    /* Suspended connections must be resumed before MHD can close them. */
    for (hl_req_t *r = d->reqs; r; r = r->next)
        if (r->suspended) {
            r->suspended = false;
            MHD_resume_connection(r->conn);
        }
    MHD_stop_daemon(d->mhd);
    d->mhd = NULL;
}
