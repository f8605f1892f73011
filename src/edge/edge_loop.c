/* edge_loop.c: the edge's HTTP/1.1 server: epoll, OpenSSL, keep-alive.
 *
 * DESIGN: a few worker threads (one per core, at most 8; the environment
 * variable CATTUBE_EDGE_THREADS overrides for measuring), each with its own
 * epoll set holding both listening sockets (EPOLLEXCLUSIVE: one thread wakes
 * per new connection) and the connections it accepted, edge-triggered.
 * A connection is a small state machine run to EAGAIN on every event:
 * TLS handshake -> read until a complete head is buffered -> parse it
 * (http_head.c, http-parser) -> run the handler (edge.c) -> write the answer
 * -> log it -> the next (pipelined) head already buffered, or else the
 * connection waits on the thread's ready list and reads after the other
 * connections of this epoll batch (fairness: see ready_push).
 * Nothing in the loop blocks on a client. A local origin's reads (SQLite
 * metadata, open) run on the loop thread. A remote origin's (cattube edge
 * --origin) may take seconds, so when the answer is not already cached the
 * handler defers the request (edge_req.deferred): the connection is parked
 * (its events ignored, its deadline not enforced), the origin pool
 * (edge_pool.c) runs the handler again where it may block, and hands the
 * connection back to its own loop thread through that thread's eventfd,
 * which writes the answer. Only the pool thread touches a parked
 * connection; only its loop thread touches it otherwise.
 *
 * Writes: the status line and headers are built in the connection's 64 KiB
 * output buffer and the first body bytes are appended, so a small answer
 * (a manifest, an error, a 304) is one SSL_write and one TLS record. Large
 * file bodies over TLS go with SSL_sendfile when the kernel took the TLS
 * send key (kTLS, SSL_OP_ENABLE_KTLS), else as 64 KiB preads + SSL_write
 * (full 16 KiB records); on plain HTTP with sendfile().
 *
 * Limits (untrusted clients): the head must fit HTTP_HEAD_MAX bytes and
 * HTTP_HDRS_MAX lines (431), arrive within EDGE_HEAD_TIMEOUT_MS of its first
 * byte (and the TLS handshake within the same time of the accept), idle
 * keep-alive connections close after EDGE_IDLE_TIMEOUT_MS, a stalled reader
 * after EDGE_WRITE_TIMEOUT_MS without progress; at most EDGE_MAX_CONNECTIONS
 * connections (more are closed at accept). A request with a body is
 * answered and the connection closed; the body is never read. */
#include "edge/edge_loop.h"
#include "http/http_head.h"
#include "edge/edge_pool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define EDGE_OUT_MAX (64 * 1024)
#define EDGE_HEAD_TIMEOUT_MS 15000
#define EDGE_IDLE_TIMEOUT_MS 60000
#define EDGE_WRITE_TIMEOUT_MS 60000
#define EDGE_MAX_CONNECTIONS 4000
#define EDGE_THREADS_MAX 8
#define EDGE_SENDFILE_CHUNK (1u << 20)
#define EDGE_POOL_THREADS 8 /* concurrent remote-origin reads */

typedef struct edge_thread edge_thread;

struct edge_conn {
    edge_conn *prev, *next; /* the thread's connections */
    edge_thread *t;
    edge_listener *l;
    int fd;
    SSL *ssl;
    int handshaken, ktls_send;
    int parked;             /* with the origin pool: the loop leaves it alone */
    edge_conn *done_next;   /* on its thread's done list */
    edge_conn *rprev, *rnext; /* on its thread's ready list */
    int ready;
    struct sockaddr_storage peer;
    char ip[64];            /* textual peer address, made once at accept */
    int64_t deadline;       /* monotonic ms */
    /* input: the current head from in[0], maybe followed by the next ones */
    size_t in_len;
    http_head head;
    int have_head;
    char cookies[2048];     /* edge_cookie results */
    size_t cookies_used;
    /* the answer in flight */
    edge_req req;
    edge_resp *resp;
    int status, close_after, queued;
    char *out;              /* EDGE_OUT_MAX */
    const char *wp;         /* pending bytes */
    size_t wl;
    uint64_t body_total, body_done;
    char in[HTTP_HEAD_MAX];
};

struct edge_thread {
    edge_loop *lp;
    pthread_t th;
    int ep;
    edge_conn *conns;
    int index;
    char date[40];
    time_t date_at;
    int wake_fd;            /* eventfd: the pool finished parked connections */
    pthread_mutex_t done_mu;
    edge_conn *done;        /* handed back by the pool, under done_mu */
    edge_conn *ready, *ready_tail; /* answered: read again after the others */
    int batch_n;            /* connections in the batch being run */
    char *spare_out[4];     /* output buffers of idle connections, for reuse */
    int n_spare;
};

struct edge_loop {
    ct_edge *e;
    SSL_CTX *ctx;
    int stop_fd;
    _Atomic int stopping;
    _Atomic int n_conns;
    int n_threads;
    edge_thread threads[EDGE_THREADS_MAX];
    edge_pool *pool;        /* remote origins only, else NULL */
};

static int64_t mono_ms(void) { return ct_mono_ms(); }

/* ---- request accessors (edge_http.h) ---- */

const char *edge_hdr(edge_conn *c, const char *name)
{
    return c && c->have_head ? http_head_get(c->in, &c->head, name) : NULL;
}

void edge_hdr_each(edge_conn *c, int (*fn)(void *cls, const char *k, const char *v), void *cls)
{
    for (size_t i = 0; c && c->have_head && i < c->head.n; i++) {
        const http_hdr_span *s = &c->head.h[i];
        if (fn(cls, c->in + s->no, s->has_v ? c->in + s->vo : ""))
            return;
    }
}

/* Cookie header(s): "a=1; b=2". The value is copied (quotes removed) into
 * the connection's cookie scratch, which lives as long as the request. */
const char *edge_cookie(edge_conn *c, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; c && c->have_head && i < c->head.n; i++) {
        const http_hdr_span *s = &c->head.h[i];
        if (!s->has_v || strcasecmp(c->in + s->no, "Cookie") != 0)
            continue;
        const char *p = c->in + s->vo;
        while (*p) {
            while (*p == ' ' || *p == ';' || *p == '\t')
                p++;
            size_t pl = strcspn(p, ";");
            if (pl > nl && p[nl] == '=' && strncmp(p, name, nl) == 0) {
                const char *v = p + nl + 1;
                size_t vl = pl - nl - 1;
                while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                    vl--;
                if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
                    v++;
                    vl -= 2;
                }
                if (c->cookies_used + vl + 1 > sizeof c->cookies)
                    return NULL;
                char *out = c->cookies + c->cookies_used;
                memcpy(out, v, vl);
                out[vl] = '\0';
                c->cookies_used += vl + 1;
                return out;
            }
            p += pl;
        }
    }
    return NULL;
}

static void peer_text(const struct sockaddr_storage *ss, char ip[64])
{
    strcpy(ip, "-");
    const struct sockaddr *sa = (const struct sockaddr *)ss;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, 64);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, 64);
}

void edge_client_ip(edge_conn *c, char ip[64])
{
    if (c)
        memcpy(ip, c->ip, 64);
    else
        strcpy(ip, "-");
}

int edge_client_port(edge_conn *c)
{
    const struct sockaddr *sa = c ? (const struct sockaddr *)&c->peer : NULL;
    if (sa && sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    if (sa && sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return -1;
}

const char *edge_conn_tls_version(edge_conn *c)
{
    return c && c->ssl ? SSL_get_version(c->ssl) : NULL;
}

const char *edge_conn_tls_cipher(edge_conn *c)
{
    return c && c->ssl ? SSL_get_cipher_name(c->ssl) : NULL;
}

/* ---- answers ---- */

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 412: return "Precondition Failed";
    case 416: return "Range Not Satisfiable";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return status < 300 ? "OK" : status < 400 ? "Redirect" : status < 500 ? "Error"
                                                                                  : "Server Error";
    }
}

/* The Date header, formatted once a second per loop thread; a pool thread
 * (parked connection) formats its own into tmp. */
static const char *http_date(edge_conn *c, char tmp[40])
{
    if (c->parked) {
        ct_time_http((int64_t)time(NULL) * 1000, tmp);
        return tmp;
    }
    edge_thread *t = c->t;
    time_t now = time(NULL);
    if (now != t->date_at) {
        ct_time_http((int64_t)now * 1000, t->date);
        t->date_at = now;
    }
    return t->date;
}

/* Appenders for the status line and headers (the buffer always has room:
 * EDGE_RESP_HDRS_MAX + a few hundred bytes < EDGE_OUT_MAX). */
static char *put_str(char *o, const char *s)
{
    size_t n = strlen(s);
    // NOLINTNEXTLINE(bugprone-not-null-terminated-result): appends; the caller ends the text
    memcpy(o, s, n);
    return o + n;
}

static char *put_u64(char *o, uint64_t v)
{
    char tmp[24], *p = tmp + sizeof tmp;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    size_t n = (size_t)(tmp + sizeof tmp - p);
    memcpy(o, p, n);
    return o + n;
}

/* Fills the output buffer after wl bytes with up to room body bytes from
 * a buffer, file or reader body. -1 on a read error. */
static int fill_body(edge_conn *c, char *dst, size_t room, size_t *got)
{
    edge_resp *r = c->resp;
    uint64_t left = c->body_total - c->body_done;
    size_t want = left < room ? (size_t)left : room;
    *got = 0;
    if (!want)
        return 0;
    if (r->kind == EDGE_BODY_MEM) {
        memcpy(dst, r->mem + c->body_done, want);
        *got = want;
    } else if (r->kind == EDGE_BODY_FILE) {
        ssize_t n;
        do
            n = pread(r->fd, dst, want, (off_t)(r->off + c->body_done));
        while (n < 0 && errno == EINTR);
        if (n <= 0)
            return -1; /* the blob is shorter than its row: never send less than promised */
        *got = (size_t)n;
    } else if (r->kind == EDGE_BODY_READER) {
        ssize_t n = r->rd(r->cls, c->body_done, dst, want);
        if (n <= 0 || (size_t)n > want)
            return -1;
        *got = (size_t)n;
    }
    c->body_done += *got;
    return 0;
}

/* Output buffers: held only while answers are in flight; an idle
 * connection's goes back to its thread's few spares instead of free() (a
 * 64 KiB malloc + free per request otherwise). Pool threads use malloc. */
static char *out_get(edge_conn *c)
{
    edge_thread *t = c->t;
    if (!c->parked && t->n_spare)
        return t->spare_out[--t->n_spare];
    return malloc(EDGE_OUT_MAX);
}

static void out_put(edge_thread *t, char *out)
{
    if (out && t->n_spare < (int)(sizeof t->spare_out / sizeof t->spare_out[0]))
        t->spare_out[t->n_spare++] = out;
    else
        free(out);
}

int edge_conn_queue(edge_conn *c, int status, edge_resp *r)
{
    if (!r)
        return 0;
    if (!c->out)
        c->out = out_get(c);
    if (c->queued || !c->out) {
        edge_resp_free(r);
        return 0;
    }
    c->queued = 1;
    c->resp = r;
    c->status = status;
    const http_head *h = &c->head;
    int bodiless = status == 304 || status == 204 || status < 200;
    int head_only = strcmp(h->method, "HEAD") == 0;
    c->body_total = bodiless || head_only || r->kind == EDGE_BODY_LENGTH ? 0 : r->len;
    c->body_done = 0;
    if (!h->keep_alive || h->has_body || h->upgrade)
        c->close_after = 1;
    /* Built by hand: this runs once per request and printf's machinery
     * showed in the profile. */
    char *o = c->out;
    o = put_str(o, "HTTP/1.1 ");
    o = put_u64(o, (uint64_t)status);
    *o++ = ' ';
    o = put_str(o, reason(status));
    o = put_str(o, "\r\nDate: ");
    char date_tmp[40];
    o = put_str(o, http_date(c, date_tmp));
    o = put_str(o, "\r\n");
    memcpy(o, r->hdrs, r->hlen);
    o += r->hlen;
    if (!bodiless) {
        o = put_str(o, "Content-Length: ");
        o = put_u64(o, r->len);
        o = put_str(o, "\r\n");
    }
    if (c->close_after)
        o = put_str(o, "Connection: close\r\n");
    else if (h->http_minor == 0)
        o = put_str(o, "Connection: keep-alive\r\n");
    size_t len = (size_t)(o - c->out);
    memcpy(c->out + len, "\r\n", 2);
    len += 2;
    /* Coalesce: the first body bytes ride with the headers, except a large
     * file that is better sent with sendfile (plain HTTP or kTLS). */
    int zero_copy = r->kind == EDGE_BODY_FILE && (!c->ssl || c->ktls_send) &&
                    c->body_total > EDGE_OUT_MAX - len;
    size_t got = 0;
    if (!zero_copy && fill_body(c, c->out + len, EDGE_OUT_MAX - len, &got)) {
        c->queued = 0; /* nothing sent yet: let the handler's failure close */
        c->resp = NULL;
        edge_resp_free(r);
        return 0;
    }
    c->wp = c->out;
    c->wl = len + got;
    return 1;
}

/* ---- I/O ---- */

enum { IO_OK = 0, IO_AGAIN = 1, IO_CLOSE = 2 };

static int tls_status(edge_conn *c, int ret)
{
    int err = SSL_get_error(c->ssl, ret);
    ERR_clear_error();
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
        return IO_AGAIN;
    return IO_CLOSE;
}

static int xwrite(edge_conn *c, const char *p, size_t len, size_t *done)
{
    if (c->ssl) {
        size_t n = 0;
        int ret = SSL_write_ex(c->ssl, p, len, &n);
        if (ret <= 0)
            return tls_status(c, ret);
        *done = n;
        return IO_OK;
    }
    /* MSG_MORE when sendfile follows: see http_front.c's conn_flush. */
    int more = c->resp && c->resp->kind == EDGE_BODY_FILE && c->body_done < c->body_total;
    ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? IO_AGAIN : IO_CLOSE;
    *done = (size_t)n;
    return IO_OK;
}

static int xsendfile(edge_conn *c, uint64_t want, size_t *done)
{
    edge_resp *r = c->resp;
    off_t off = (off_t)(r->off + c->body_done);
    size_t len = want < EDGE_SENDFILE_CHUNK ? (size_t)want : EDGE_SENDFILE_CHUNK;
    ssize_t n;
    if (c->ssl) {
        n = SSL_sendfile(c->ssl, r->fd, off, len, 0);
        if (n < 0)
            return tls_status(c, (int)n);
    } else {
        n = sendfile(c->fd, r->fd, &off, len);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? IO_AGAIN : IO_CLOSE;
    }
    if (n == 0)
        return IO_CLOSE; /* file shorter than promised */
    *done = (size_t)n;
    return IO_OK;
}

/* Pushes the answer until done (IO_OK), the socket is full or it failed. */
static int write_answer(edge_conn *c)
{
    for (;;) {
        size_t n = 0;
        int st;
        if (c->wl) {
            if ((st = xwrite(c, c->wp, c->wl, &n)))
                return st;
            c->wp += n;
            c->wl -= n;
            c->deadline = mono_ms() + EDGE_WRITE_TIMEOUT_MS;
            continue;
        }
        if (c->body_done == c->body_total)
            return IO_OK;
        if (c->resp->kind == EDGE_BODY_FILE && (!c->ssl || c->ktls_send)) {
            if ((st = xsendfile(c, c->body_total - c->body_done, &n)))
                return st;
            c->body_done += n;
            c->deadline = mono_ms() + EDGE_WRITE_TIMEOUT_MS;
            continue;
        }
        if (fill_body(c, c->out, EDGE_OUT_MAX, &n) || !n)
            return IO_CLOSE;
        c->wp = c->out;
        c->wl = n;
    }
}

/* ---- the connection state machine ---- */

/* The ready list: keep-alive connections whose answer just went out. Their
 * next read waits until the connections with events in the same epoll
 * batch had their turn; reading at once let a client that answers fast
 * (wrk on the other core) be served again and again while the others
 * waited, which made the c=64 p99 2-3.5x nginx's. Edge-triggered epoll
 * stays correct: the connection is read until EAGAIN, only later. A
 * connection alone in its batch (c=1) reads at once, as before: nobody
 * waits, and the detour cost an epoll_wait. */
static void ready_unlink(edge_conn *c)
{
    edge_thread *t = c->t;
    if (!c->ready)
        return;
    if (c->rprev)
        c->rprev->rnext = c->rnext;
    else
        t->ready = c->rnext;
    if (c->rnext)
        c->rnext->rprev = c->rprev;
    else
        t->ready_tail = c->rprev;
    c->rprev = c->rnext = NULL;
    c->ready = 0;
}

static void ready_push(edge_conn *c)
{
    edge_thread *t = c->t;
    if (c->ready)
        return;
    c->ready = 1;
    c->rnext = NULL;
    c->rprev = t->ready_tail;
    if (t->ready_tail)
        t->ready_tail->rnext = c;
    else
        t->ready = c;
    t->ready_tail = c;
}

static void conn_close(edge_conn *c)
{
    edge_thread *t = c->t;
    ready_unlink(c);
    if (c->have_head && c->req.l) /* a request that got no (complete) answer */
        edge_req_done(&c->req, c, 0);
    edge_resp_free(c->resp);
    if (c->ssl) {
        if (c->handshaken)
            SSL_shutdown(c->ssl); /* best effort close_notify; never waits */
        SSL_free(c->ssl);
    }
    epoll_ctl(t->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        t->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    t->lp->n_conns--;
    out_put(t, c->out);
    free(c);
}

/* The answer went out: log it, drop the head, keep what follows it. */
static void request_done(edge_conn *c)
{
    edge_req_done(&c->req, c, 1);
    edge_resp_free(c->resp);
    c->resp = NULL;
    c->queued = 0;
    size_t used = c->head.head_len;
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
    c->have_head = 0;
    c->cookies_used = 0;
    memset(&c->req, 0, sizeof c->req);
    if (!c->in_len) { /* idle keep-alive connections hold no output buffer */
        out_put(c->t, c->out);
        c->out = NULL;
    }
    c->deadline = mono_ms() + (c->in_len ? EDGE_HEAD_TIMEOUT_MS : EDGE_IDLE_TIMEOUT_MS);
}

/* A head error answered by the loop itself (no handler, connection closes). */
static int answer_bad_head(edge_conn *c, int status)
{
    static const char body[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                               "<Error><Code>InvalidRequest</Code><Message>Malformed or too "
                               "large request head.</Message></Error>\n";
    memset(&c->head, 0, sizeof c->head);
    c->head.head_len = c->in_len;
    edge_resp *r = edge_resp_buffer(sizeof body - 1, body, NULL, NULL);
    if (!r || edge_resp_header(r, "Server", "CatTube") ||
        edge_resp_header(r, "Content-Type", "application/xml")) {
        edge_resp_free(r);
        return -1;
    }
    c->close_after = 1;
    return edge_conn_queue(c, status, r) ? 0 : -1;
}

static void dispatch(edge_conn *c)
{
    edge_req *r = &c->req;
    memset(r, 0, sizeof *r);
    r->l = c->l;
    r->raw = c->in + c->head.url_off;
    r->t0 = mono_ms();
    edge_log_begin(&r->lg);
    /* by hand: printf is slow in this process (libquadmath's hooks) */
    size_t ml = strnlen(c->head.method, sizeof r->method - 1);
    memcpy(r->method, c->head.method, ml);
    r->method[ml] = '\0';
    if (c->head.http_major < 10 && c->head.http_minor < 10) {
        memcpy(r->lg.version, "HTTP/1.1", 9);
        r->lg.version[5] = (char)('0' + c->head.http_major);
        r->lg.version[7] = (char)('0' + c->head.http_minor);
    } else {
        snprintf(r->lg.version, sizeof r->lg.version, "HTTP/%d.%d", c->head.http_major,
                 c->head.http_minor);
    }
    r->responded = 1;
    r->can_defer = c->t->lp->pool != NULL;
    c->deadline = mono_ms() + EDGE_WRITE_TIMEOUT_MS;
    int ok = edge_handle(r, c);
    if (ok && r->deferred && !c->queued) {
        c->parked = 1;
        if (edge_pool_submit(c->t->lp->pool, c) == 0)
            return;
        c->parked = 0;
        ok = 0;
    }
    if (!ok || !c->queued)
        c->close_after = 2; /* failed without an answer: close now */
}

/* On a pool thread: the deferred request's handler again, now allowed to
 * block on the origin; then back to the connection's loop thread. */
static void run_parked(void *arg)
{
    edge_conn *c = arg;
    edge_thread *t = c->t;
    c->req.can_defer = 0;
    c->req.deferred = 0;
    if (!edge_handle(&c->req, c) || !c->queued)
        c->close_after = 2;
    pthread_mutex_lock(&t->done_mu);
    c->done_next = t->done;
    t->done = c;
    pthread_mutex_unlock(&t->done_mu);
    uint64_t one = 1;
    if (write(t->wake_fd, &one, sizeof one) < 0)
        ct_warn("edge: cannot wake a server thread");
}

/* Runs the connection until it would block; IO_CLOSE when it is done for. */
static int conn_run(edge_conn *c)
{
    if (c->ssl && !c->handshaken) {
        int ret = SSL_do_handshake(c->ssl);
        if (ret != 1)
            return tls_status(c, ret);
        c->handshaken = 1;
        c->ktls_send = BIO_get_ktls_send(SSL_get_wbio(c->ssl)) > 0;
        c->deadline = mono_ms() + EDGE_IDLE_TIMEOUT_MS;
    }
    for (;;) {
        if (c->parked)
            return IO_AGAIN; /* the pool has it; its thread resumes it */
        if (c->queued) {
            int st = write_answer(c);
            if (st)
                return st;
            int close_after = c->close_after;
            request_done(c);
            if (close_after)
                return IO_CLOSE;
            if (!c->in_len && !c->parked && !(c->ssl && SSL_has_pending(c->ssl)) &&
                (c->t->batch_n > 1 || c->t->ready)) { /* others are waiting */
                ready_push(c); /* its next request after the others' */
                return IO_AGAIN;
            }
            continue;
        }
        if (c->close_after == 2)
            return IO_CLOSE;
        if (c->in_len && !c->have_head) {
            int p = http_head_parse(c->in, c->in_len, sizeof c->in, &c->head);
            if (p > 0) {
                c->have_head = 1;
                dispatch(c);
                continue;
            }
            if (p < 0) {
                if (answer_bad_head(c, c->head.error_status))
                    return IO_CLOSE;
                continue;
            }
        }
        if (c->in_len == sizeof c->in)
            return IO_CLOSE; /* unreachable: a full buffer parses or fails */
        size_t got = 0;
        if (c->ssl) {
            int ret = SSL_read_ex(c->ssl, c->in + c->in_len, sizeof c->in - c->in_len, &got);
            if (ret <= 0)
                return tls_status(c, ret);
        } else {
            ssize_t n = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
            if (n <= 0)
                return n < 0 && (errno == EAGAIN || errno == EINTR) ? IO_AGAIN : IO_CLOSE;
            got = (size_t)n;
        }
        if (!c->in_len)
            c->deadline = mono_ms() + EDGE_HEAD_TIMEOUT_MS; /* the head's clock starts */
        c->in_len += got;
    }
}

static void conn_event(edge_conn *c)
{
    ready_unlink(c); /* runs now */
    if (conn_run(c) == IO_CLOSE)
        conn_close(c);
}

static void accept_all(edge_thread *t, edge_listener *l)
{
    edge_loop *lp = t->lp;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss = {.ss_family = AF_UNSPEC}; /* peer_text reads the family */
        socklen_t sl = sizeof ss;
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN (another thread took it), or EMFILE: try on the next wake */
        if (lp->n_conns >= EDGE_MAX_CONNECTIONS) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        edge_conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->t = t;
        c->l = l;
        c->fd = fd;
        c->peer = ss;
        peer_text(&ss, c->ip);
        c->deadline = mono_ms() + EDGE_HEAD_TIMEOUT_MS;
        if (l->secure) {
            c->ssl = SSL_new(lp->ctx);
            if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
                SSL_free(c->ssl);
                free(c);
                close(fd);
                continue;
            }
            SSL_set_accept_state(c->ssl);
        }
        lp->n_conns++;
        c->next = t->conns;
        if (t->conns)
            t->conns->prev = c;
        t->conns = c;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                 .data.ptr = c};
        if (epoll_ctl(t->ep, EPOLL_CTL_ADD, fd, &ev)) {
            conn_close(c);
            continue;
        }
        conn_event(c);
    }
}

static void expire(edge_thread *t)
{
    int64_t now = mono_ms();
    edge_conn *c = t->conns;
    while (c) {
        /* the analyzer cannot see that conn_close frees only c (a list
         * invariant: prev is NULL exactly for the head) */
        // NOLINTNEXTLINE(clang-analyzer-unix.Malloc)
        edge_conn *next = c->next;
        if (now > c->deadline && !c->parked)
            conn_close(c);
        c = next;
    }
}

/* Connections the pool finished: their answers go out from here. */
static void resume_parked(edge_thread *t)
{
    uint64_t n;
    if (read(t->wake_fd, &n, sizeof n) < 0 && errno != EAGAIN)
        ct_warn("edge: server thread wake-up: %s", strerror(errno));
    pthread_mutex_lock(&t->done_mu);
    edge_conn *c = t->done;
    t->done = NULL;
    pthread_mutex_unlock(&t->done_mu);
    while (c) {
        edge_conn *next = c->done_next;
        c->done_next = NULL;
        c->parked = 0;
        c->deadline = mono_ms() + EDGE_WRITE_TIMEOUT_MS;
        conn_event(c);
        c = next;
    }
}

static void *thread_main(void *arg)
{
    edge_thread *t = arg;
    edge_loop *lp = t->lp;
    ct_edge *e = lp->e;
    struct epoll_event evs[64];
    int64_t last_tick = mono_ms();
    edge_log_thread_begin(e);
    while (!lp->stopping) {
        int n = epoll_wait(t->ep, evs, 64, t->ready ? 0 : 1000);
        t->batch_n = n;
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &e->https)
                accept_all(t, &e->https);
            else if (p == &e->http)
                accept_all(t, &e->http);
            else if (p == &t->wake_fd)
                resume_parked(t);
            else if (p != lp) /* lp: the stop eventfd */
                conn_event(p);
        }
        /* One pass over the connections answered before this batch
         * (detached: those answered during the pass wait for the next).
         * conn_event closes at most its own connection. */
        edge_conn *c = t->ready;
        t->ready = t->ready_tail = NULL;
        t->batch_n = c && c->rnext ? 2 : 1;
        while (c) {
            edge_conn *next = c->rnext;
            c->ready = 0;
            c->rprev = c->rnext = NULL;
            if (next)
                next->rprev = NULL;
            conn_event(c);
            c = next; // NOLINT(clang-analyzer-unix.Malloc): conn_event frees only c
        }
        int64_t now = mono_ms();
        if (now - last_tick >= 1000) {
            last_tick = now;
            expire(t);
            edge_log_thread_flush(e, 0);
            if (t->index == 0)
                edge_log_flush(e);
        }
    }
    while (t->conns)
        conn_close(t->conns); // NOLINT(clang-analyzer-unix.Malloc): conn_close unlinks the head first
    while (t->n_spare)
        free(t->spare_out[--t->n_spare]);
    edge_log_thread_flush(e, 1);
    return NULL;
}

/* ---- lifecycle ---- */

ct_err edge_listen_socket(const char *listen_addr, int *fd_out, uint16_t *port)
{
    struct sockaddr_storage ss;
    unsigned sslen;
    if (ct_http_parse_listen(listen_addr, &ss, &sslen))
        return CT_ERR_INVALID;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return CT_ERR_IO;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sslen) || listen(fd, 1024)) {
        close(fd);
        return CT_ERR_IO;
    }
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                          : ((struct sockaddr_in6 *)&ss)->sin6_port);
    *fd_out = fd;
    return CT_OK;
}

/* The certificate (with any chain after it) and key from PEM text. */
static SSL_CTX *tls_context(const char *cert_pem, const char *key_pem)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    BIO *cb = BIO_new_mem_buf(cert_pem, -1), *kb = BIO_new_mem_buf(key_pem, -1);
    X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    int ok = ctx && x && k && SSL_CTX_use_certificate(ctx, x) == 1 &&
             SSL_CTX_use_PrivateKey(ctx, k) == 1 && SSL_CTX_check_private_key(ctx) == 1;
    X509 *chain;
    while (ok && (chain = PEM_read_bio_X509(cb, NULL, NULL, NULL)))
        if (SSL_CTX_add0_chain_cert(ctx, chain) != 1) {
            X509_free(chain);
            ok = 0;
        }
    ERR_clear_error(); /* the end of the chain reads as an error */
    X509_free(x);
    EVP_PKEY_free(k);
    BIO_free(cb);
    BIO_free(kb);
    if (!ok) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    uint64_t opts = SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE;
#ifdef SSL_OP_ENABLE_KTLS
    opts |= SSL_OP_ENABLE_KTLS; /* used only when the kernel's tls ULP takes the keys */
#endif
    SSL_CTX_set_options(ctx, opts);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    /* One read() per request instead of two (record header, then body);
     * data read ahead is seen by SSL_has_pending before a connection waits. */
    SSL_CTX_set_read_ahead(ctx, 1);
    return ctx;
}

static int thread_count(void)
{
    const char *env = getenv("CATTUBE_EDGE_THREADS");
    long n = env && *env ? strtol(env, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > EDGE_THREADS_MAX ? EDGE_THREADS_MAX : (int)n;
}

static int watch(int ep, int fd, void *ptr, uint32_t extra)
{
    struct epoll_event ev = {.events = EPOLLIN | extra, .data.ptr = ptr};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

ct_err edge_loop_start(ct_edge *e, edge_loop **out)
{
    edge_loop *lp = calloc(1, sizeof *lp);
    if (!lp)
        return CT_ERR_NOMEM;
    lp->e = e;
    lp->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    lp->ctx = tls_context(e->cert_pem, e->key_pem);
    if (!lp->ctx) {
        ct_error("edge: the TLS certificate or key cannot be used");
        edge_loop_stop(lp);
        return CT_ERR_INVALID;
    }
    /* remote origins are possible exactly when there is a disk cache */
    if (e->disk && !(lp->pool = edge_pool_start(EDGE_POOL_THREADS, run_parked)))
        ct_warn("edge: no origin pool: origin reads will run on the server threads");
    int want = thread_count();
    for (int i = 0; i < want; i++) {
        edge_thread *t = &lp->threads[i];
        t->lp = lp;
        t->index = i;
        pthread_mutex_init(&t->done_mu, NULL);
        t->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        t->ep = epoll_create1(EPOLL_CLOEXEC);
        if (t->ep < 0 || t->wake_fd < 0 || watch(t->ep, lp->stop_fd, lp, 0) ||
            watch(t->ep, t->wake_fd, &t->wake_fd, 0) ||
            watch(t->ep, e->https.fd, &e->https, EPOLLEXCLUSIVE) ||
            (e->http.fd >= 0 && watch(t->ep, e->http.fd, &e->http, EPOLLEXCLUSIVE)) ||
            pthread_create(&t->th, NULL, thread_main, t)) {
            if (t->ep >= 0)
                close(t->ep);
            if (t->wake_fd >= 0)
                close(t->wake_fd);
            pthread_mutex_destroy(&t->done_mu);
            break;
        }
        lp->n_threads++;
    }
    if (lp->n_threads == 0) {
        edge_loop_stop(lp);
        return CT_ERR_IO;
    }
#ifdef SSL_OP_ENABLE_KTLS
    const char *ktls = "requested";
#else
    const char *ktls = "not built";
#endif
    ct_info("edge: %d server thread%s, kTLS %s", lp->n_threads, lp->n_threads > 1 ? "s" : "", ktls);
    *out = lp;
    return CT_OK;
}

void edge_loop_stop(edge_loop *lp)
{
    if (!lp)
        return;
    /* The pool first: a parked connection is closed by its loop thread as
     * it exits, never while a pool thread still holds it. */
    edge_pool_stop(lp->pool); /* loop threads may still submit: they are refused */
    lp->stopping = 1;
    uint64_t one = 1;
    if (lp->stop_fd >= 0 && write(lp->stop_fd, &one, sizeof one) < 0)
        ct_warn("edge: cannot wake the server threads");
    for (int i = 0; i < lp->n_threads; i++) {
        pthread_join(lp->threads[i].th, NULL);
        close(lp->threads[i].ep);
        close(lp->threads[i].wake_fd);
        pthread_mutex_destroy(&lp->threads[i].done_mu);
    }
    if (lp->stop_fd >= 0)
        close(lp->stop_fd);
    edge_pool_free(lp->pool);
    SSL_CTX_free(lp->ctx);
    free(lp);
}
