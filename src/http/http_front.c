/* http_front.c: the API port's accept + epoll loop in front of MHD.
 *
 * DESIGN: libmicrohttpd gives each connection a thread, which suits the
 * requests that may block (uploads, fsync, streamed event bodies) but makes
 * every small GET pay a thread wake-up and MHD's per-request pool reset; a
 * C client (wrk) measured 4 KiB GetObject from 16 connections at 0.3-0.5x
 * nginx that way. So the listening socket is ours. Each loop thread waits
 * in epoll (level-triggered) and, when a connection is readable, PEEKS at
 * its bytes and parses the head with the edge's proven parser (http_head.c):
 *  - a complete, clean HTTP/1.1 GET or HEAD without a body, outside
 *    /cattube/ (admin, health, the events stream), is consumed and answered
 *    here: the same authentication and handler as MHD's path
 *    (http_request_begin, http_handle_buffered), its answer written from
 *    this thread (header + small body in one send, large files by
 *    sendfile, EPOLLOUT while the socket is full);
 *  - anything else -- a body, another method or version, an incomplete or
 *    oversized or malformed head, a slow client -- is handed to MHD with
 *    its bytes still unread (MHD_add_connection), and stays there.
 * So the loop never parses a body, never writes an error of its own and
 * never waits for a slow client: what it cannot do at once, MHD does as
 * before. One request per readable event keeps pipelining clients from
 * starving the others. Connections idle for HTTP_FRONT_IDLE_MS are closed,
 * as MHD's own timeout did.
 * Handlers run on the loop thread: a GET waits on meta's lock like it did
 * on its MHD thread, but a loop thread then waits with it. */
#include "http/http_head.h"
#include "http/http_internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <time.h>

#define HTTP_FRONT_MAX_THREADS 8
#define HTTP_FRONT_MAX_CONNS 1000       /* beyond this, MHD takes (and limits) them */
#define HTTP_FRONT_IDLE_MS (300 * 1000) /* MHD_OPTION_CONNECTION_TIMEOUT's 300 s */
#define HTTP_FRONT_SENDFILE_CHUNK ((size_t)1 << 20)
#define HTTP_FRONT_CORK_MIN ((uint64_t)4 << 20) /* file bodies from here go out corked */

typedef struct front_thread front_thread;

typedef struct front_conn {
    int fd;
    struct sockaddr_storage addr;
    socklen_t alen;
    int64_t last_ms;
    ct_buf out;               /* status line + headers (+ small body) to send */
    size_t out_off;
    int file_fd;              /* large body: sent by sendfile after out */
    off_t file_off;
    uint64_t file_left;
    int corked; /* TCP_CORK set for this file body */
    int close_after;
    int want_out;             /* registered for EPOLLOUT */
    struct front_conn *prev, *next;
} front_conn;

struct front_thread {
    pthread_t th;
    int ep;
    http_front *f;
    front_conn conns;         /* list head (sentinel) */
    char head[HTTP_HEAD_MAX]; /* peeked bytes, parsed in place */
    char sink[HTTP_HEAD_MAX]; /* where a served head is consumed to */
    char date[40];
    time_t date_sec;
};

struct http_front {
    ct_http_server *srv;
    int lfd, stop_fd;
    int n;
    atomic_int conns;
    atomic_int stopping;
    front_thread *t[HTTP_FRONT_MAX_THREADS];
};

static char listen_tag, stop_tag; /* epoll data for the two shared fds */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void conn_unlink(front_conn *c)
{
    c->prev->next = c->next;
    c->next->prev = c->prev;
}

static void conn_free(front_thread *t, front_conn *c)
{
    conn_unlink(c);
    ct_buf_free(&c->out);
    if (c->file_fd >= 0)
        close(c->file_fd);
    free(c);
    atomic_fetch_sub(&t->f->conns, 1);
}

static void conn_close(front_thread *t, front_conn *c)
{
    epoll_ctl(t->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    conn_free(t, c);
}

/* MHD takes the socket with its unread bytes; it closes it on failure. */
static void conn_handoff(front_thread *t, front_conn *c)
{
    epoll_ctl(t->ep, EPOLL_CTL_DEL, c->fd, NULL);
    int fd = c->fd;
    struct sockaddr_storage addr = c->addr;
    socklen_t alen = c->alen;
    conn_free(t, c);
    if (MHD_add_connection(t->f->srv->daemon, fd, (struct sockaddr *)&addr, alen) != MHD_YES)
        ct_debug("http: MHD refused a connection: %s", strerror(errno));
}

/* Takes one pending connection; 0 when there is none (EAGAIN: another
 * thread took it), or when out of fds (the next wake-up retries). */
static int accept_one(front_thread *t)
{
    http_front *f = t->f;
    struct sockaddr_storage addr;
    socklen_t alen = sizeof addr;
    int fd;
    do {
        alen = sizeof addr;
        fd = accept4(f->lfd, (struct sockaddr *)&addr, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
    } while (fd < 0 && (errno == EINTR || errno == ECONNABORTED));
    if (fd < 0)
        return 0;
    if (atomic_fetch_add(&f->conns, 1) >= HTTP_FRONT_MAX_CONNS) {
        atomic_fetch_sub(&f->conns, 1);
        MHD_add_connection(f->srv->daemon, fd, (struct sockaddr *)&addr, alen);
        return 1;
    }
    front_conn *c = calloc(1, sizeof *c);
    if (!c) {
        atomic_fetch_sub(&f->conns, 1);
        close(fd);
        return 1;
    }
    c->fd = fd;
    c->addr = addr;
    c->alen = alen;
    c->file_fd = -1;
    c->last_ms = mono_ms();
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->next = t->conns.next;
    c->prev = &t->conns;
    t->conns.next->prev = c; /* NOLINT(clang-analyzer-unix.Malloc): nodes unlink before free */
    t->conns.next = c;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(t->ep, EPOLL_CTL_ADD, fd, &ev) != 0)
        conn_close(t, c);
    return 1;
}

/* Up to 64 per wake-up, as the edge does: taking one per wake-up (nginx's
 * multi_accept off) measured a 3x worse p99 on the edge's 4 KiB c=64 cell. */
static void accept_some(front_thread *t)
{
    for (int i = 0; i < 64 && accept_one(t); i++)
        ;
}

/* ---- deciding ---- */

static int header_is(const char *buf, const http_head *h, size_t i, const char *name)
{
    return strcasecmp(buf + h->h[i].no, name) == 0;
}

/* 1 when the loop answers this head itself; MHD gets everything else. */
static int front_can_answer(const char *buf, const http_head *h)
{
    if (h->http_major != 1 || h->http_minor != 1 || h->has_body || h->upgrade)
        return 0;
    if (strcmp(h->method, "GET") != 0 && strcmp(h->method, "HEAD") != 0)
        return 0;
    const char *url = buf + h->url_off;
    if (url[0] != '/' || strncmp(url, "/cattube/", 9) == 0 || strcmp(url, "/cattube") == 0)
        return 0;
    int hosts = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (header_is(buf, h, i, "host"))
            hosts++;
        else if (header_is(buf, h, i, "expect") || header_is(buf, h, i, "content-length") ||
                 header_is(buf, h, i, "transfer-encoding"))
            return 0;
    }
    return hosts == 1; /* MHD answers a missing or repeated Host with 400 */
}

/* The request state MHD's path would have built for this head. */
static http_state *state_from_head(const char *buf, const http_head *h, const front_conn *c)
{
    http_state *st = http_state_new(buf + h->url_off);
    if (!st)
        return NULL;
    for (size_t i = 0; i < h->n && (int)i < HTTP_MAX_REQ_HEADERS; i++) {
        const http_hdr_span *s = &h->h[i];
        char *name = strdup(buf + s->no), *value = strdup(s->has_v ? buf + s->vo : "");
        st->headers[st->n_headers].name = name;
        st->headers[st->n_headers].value = value;
        st->n_headers++;
        if (!name || !value) {
            http_state_free(st);
            return NULL;
        }
    }
    http_client_ip((const struct sockaddr *)&c->addr, st->client_ip, sizeof st->client_ip);
    return st;
}

/* ---- answering ---- */

static const char *http_date(front_thread *t)
{
    time_t now = time(NULL);
    if (now != t->date_sec) {
        ct_time_http((int64_t)now * 1000, t->date);
        t->date_sec = now;
    }
    return t->date;
}

static void put_header(ct_buf *b, const char *name, const char *value)
{
    ct_buf_puts(b, name);
    ct_buf_append(b, ": ", 2);
    ct_buf_puts(b, value);
    ct_buf_append(b, "\r\n", 2);
}

static void put_uint(ct_buf *b, uint64_t v)
{
    char d[24];
    int i = (int)sizeof d;
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    ct_buf_append(b, d + i, sizeof d - (size_t)i);
}

/* Reads len bytes at off of fd onto the end of b; -1 when the file is short. */
static int append_file(ct_buf *b, int fd, uint64_t off, size_t len)
{
    if (ct_buf_reserve(b, len) != CT_OK || ct_pread_all(fd, b->data + b->len, len, off) != CT_OK)
        return -1;
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

/* TCP_CORK around a large file body. Without it every sendfile call that
 * fills the socket ends in a pushed partial segment: a 64 MiB GetObject
 * went out in ~50 % more segments than nginx's (tcp_nopush), with
 * spurious retransmissions under BBR's pacing, and a 256 MiB one from one
 * client ran at ~1.9-2.0 GB/s against ~2.2-2.4 corked. Below 4 MiB
 * corking measured slower (1 MiB GetObject from 1 connection: 2,180 ->
 * 1,800/s, more CPU per request; why is not pinned down), at 4 MiB faster
 * (+3-13 %). */
static void set_cork(front_conn *c, int on)
{
    if (c->corked == on)
        return;
    if (setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on) == 0)
        c->corked = on;
}

/* Serialises resp as MHD would: its headers, x-amz-request-id, Server,
 * Date, Content-Length (none for 1xx/204/304), no body for HEAD. Returns
 * -1 when the response cannot be sent (the connection is then closed). */
static int build_response(front_thread *t, front_conn *c, const http_state *st, int head_only,
                          ct_http_resp *r)
{
    unsigned status = (unsigned)(r->status ? r->status : 500);
    int bodiless = status < 200 || status == 204 || status == 304;
    uint64_t len = r->fd >= 0 ? r->fd_len : r->head_length >= 0 ? (uint64_t)r->head_length
                                                                  : r->body.len;
    if (r->reader)
        return -1; /* streamed bodies only come from /cattube/, which MHD serves */
    ct_buf *b = &c->out;
    ct_buf_reset(b);
    c->out_off = 0;
    ct_buf_append(b, "HTTP/1.1 ", 9);
    put_uint(b, status);
    ct_buf_append(b, " ", 1);
    ct_buf_puts(b, MHD_get_reason_phrase_for(status));
    ct_buf_append(b, "\r\n", 2);
    for (int i = 0; i < r->n_headers; i++)
        put_header(b, r->headers[i].name, r->headers[i].value);
    put_header(b, "x-amz-request-id", st->req.request_id);
    put_header(b, "Server", "CatTube");
    put_header(b, "Date", http_date(t));
    if (!bodiless) {
        ct_buf_append(b, "Content-Length: ", 16);
        put_uint(b, len);
        ct_buf_append(b, "\r\n", 2);
    }
    if (c->close_after)
        ct_buf_append(b, "Connection: close\r\n", 19);
    if (ct_buf_append(b, "\r\n", 2) != CT_OK)
        return -1;
    if (bodiless || head_only || len == 0)
        return 0;
    if (r->fd >= 0 && r->fd_len <= HTTP_SMALL_FD_BODY)
        return append_file(b, r->fd, r->fd_offset, (size_t)r->fd_len);
    if (r->fd >= 0) {
        c->file_fd = r->fd;
        r->fd = -1;
        c->file_off = (off_t)r->fd_offset;
        c->file_left = r->fd_len;
        set_cork(c, c->file_left >= HTTP_FRONT_CORK_MIN);
        return 0;
    }
    return ct_buf_append(b, r->body.data, r->body.len) == CT_OK ? 0 : -1;
}

/* 1 when everything is sent, 0 when the socket is full, -1 on error.
 * The head goes with MSG_MORE when a file follows, so that it leaves in the
 * file's first segment: sent alone (TCP_NODELAY) it cost a 1 MiB GET a
 * separate small segment and the client an extra wake-up, and wrk measured
 * 1 MiB GetObject 30-40 % slower from 1 and 16 connections (nginx corks
 * the same way with tcp_nopush). */
static int conn_flush(front_conn *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
                         MSG_NOSIGNAL | (c->file_left ? MSG_MORE : 0));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        c->out_off += (size_t)n;
    }
    while (c->file_left) {
        size_t want = c->file_left < HTTP_FRONT_SENDFILE_CHUNK ? (size_t)c->file_left
                                                                : HTTP_FRONT_SENDFILE_CHUNK;
        ssize_t n = sendfile(c->fd, c->file_fd, &c->file_off, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        if (n == 0)
            return -1; /* the file is shorter than its row said */
        c->file_left -= (uint64_t)n;
    }
    if (c->file_fd >= 0) {
        close(c->file_fd);
        c->file_fd = -1;
        set_cork(c, 0); /* sends the last partial segment */
    }
    return 1;
}

/* No EPOLLRDHUP: with level triggering a half-closed client (request sent,
 * then shutdown(SHUT_WR)) would keep waking the thread while its answer
 * waits for room; EOF shows up as a peek of 0 bytes instead. */
static void conn_want_out(front_thread *t, front_conn *c, int on)
{
    if (c->want_out == on)
        return;
    struct epoll_event ev = {.events = (on ? EPOLLOUT : EPOLLIN), .data.ptr = c};
    if (epoll_ctl(t->ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->want_out = on;
}

/* After a write: done (close or wait for the next request), or wait for room. */
static void conn_after_write(front_thread *t, front_conn *c)
{
    int rc = conn_flush(c);
    c->last_ms = mono_ms();
    if (rc < 0 || (rc == 1 && c->close_after)) {
        conn_close(t, c);
        return;
    }
    conn_want_out(t, c, rc == 0);
}

/* Answers the request whose head (head_len bytes, still in the socket) is
 * parsed in t->head. */
static void answer(front_thread *t, front_conn *c, const http_head *h)
{
    ct_http_server *srv = t->f->srv;
    if (recv(c->fd, t->sink, h->head_len, 0) != (ssize_t)h->head_len) {
        conn_close(t, c); /* the peeked bytes are there: only a dying socket fails */
        return;
    }
    http_state *st = state_from_head(t->head, h, c);
    if (!st) {
        conn_close(t, c);
        return;
    }
    int head_only = strcmp(h->method, "HEAD") == 0;
    http_request_begin(srv, st, head_only ? "HEAD" : "GET");
    ct_http_resp resp;
    ct_http_resp_init(&resp);
    http_handle_buffered(srv, st, &resp);
    c->close_after = !h->keep_alive;
    int rc = build_response(t, c, st, head_only, &resp);
    ct_http_resp_free(&resp);
    http_state_free(st);
    if (rc != 0) {
        conn_close(t, c);
        return;
    }
    conn_after_write(t, c);
}

static void on_readable(front_thread *t, front_conn *c)
{
    ssize_t n = recv(c->fd, t->head, sizeof t->head, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(t, c);
        return;
    }
    http_head h;
    if (http_head_parse(t->head, (size_t)n, sizeof t->head, &h) == 1 &&
        front_can_answer(t->head, &h))
        answer(t, c, &h);
    else
        conn_handoff(t, c);
}

static void sweep_idle(front_thread *t, int64_t now)
{
    for (front_conn *c = t->conns.next, *next; c != &t->conns; c = next) {
        next = c->next;
        if (now - c->last_ms > HTTP_FRONT_IDLE_MS)
            conn_close(t, c);
    }
}

static void *front_main(void *arg)
{
    front_thread *t = arg;
    http_front *f = t->f;
    struct epoll_event evs[64];
    int64_t swept = mono_ms();
    while (!atomic_load(&f->stopping)) {
        int n = epoll_wait(t->ep, evs, (int)CT_ARRAY_LEN(evs), 1000);
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &stop_tag)
                return NULL;
            if (p == &listen_tag) {
                accept_some(t);
                continue;
            }
            front_conn *c = p;
            if (c->want_out)
                conn_after_write(t, c);
            else
                on_readable(t, c); /* EOF and errors show up as a failed peek */
        }
        int64_t now = mono_ms();
        if (now - swept >= 1000) {
            sweep_idle(t, now);
            swept = now;
        }
    }
    return NULL;
}

/* ---- lifecycle ---- */

static void front_free(http_front *f)
{
    for (int i = 0; i < f->n; i++) {
        front_thread *t = f->t[i];
        while (t->conns.next != &t->conns)
            conn_close(t, t->conns.next); /* NOLINT(clang-analyzer-unix.Malloc): unlinks first */
        close(t->ep);
        free(t);
    }
    if (f->stop_fd >= 0)
        close(f->stop_fd);
    close(f->lfd);
    free(f);
}

static int thread_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 2 ? 2 : n > HTTP_FRONT_MAX_THREADS ? HTTP_FRONT_MAX_THREADS : (int)n;
}

ct_err http_front_start(ct_http_server *srv, int lfd, http_front **out)
{
    http_front *f = calloc(1, sizeof *f);
    if (!f) {
        close(lfd);
        return CT_ERR_NOMEM;
    }
    f->srv = srv;
    f->lfd = lfd;
    f->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (f->stop_fd < 0)
        goto fail;
    int want = thread_count();
    for (; f->n < want; f->n++) {
        front_thread *t = calloc(1, sizeof *t);
        if (!t)
            goto fail;
        t->f = f;
        t->conns.next = t->conns.prev = &t->conns;
        t->ep = epoll_create1(EPOLL_CLOEXEC);
        /* EPOLLEXCLUSIVE: one thread wakes per new connection, not all. */
        struct epoll_event lev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &listen_tag};
        struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &stop_tag};
        if (t->ep < 0 || epoll_ctl(t->ep, EPOLL_CTL_ADD, lfd, &lev) != 0 ||
            epoll_ctl(t->ep, EPOLL_CTL_ADD, f->stop_fd, &sev) != 0) {
            if (t->ep >= 0)
                close(t->ep);
            free(t);
            goto fail;
        }
        f->t[f->n] = t;
    }
    for (int i = 0; i < f->n; i++) {
        if (pthread_create(&f->t[i]->th, NULL, front_main, f->t[i]) != 0) {
            f->n = i; /* stop and join the ones started */
            http_front_stop(f);
            return CT_ERR_IO;
        }
    }
    *out = f;
    return CT_OK;
fail:
    front_free(f);
    return CT_ERR_IO;
}

void http_front_stop(http_front *f)
{
    if (!f)
        return;
    atomic_store(&f->stopping, 1);
    uint64_t one = 1;
    if (write(f->stop_fd, &one, sizeof one) < 0)
        ct_warn("http: cannot wake the front threads");
    for (int i = 0; i < f->n; i++)
        pthread_join(f->t[i]->th, NULL);
    front_free(f);
}
