/* edge_log.c: CloudFront standard access logs (W3C extended, tab separated)
 * appended to DIR/edge/access.log, one line per viewer request. Lines are
 * formatted on the request's thread and appended under a mutex to a memory
 * buffer written out (O_APPEND, no fsync) when it holds 64 KiB or is a
 * second old; the server loop also flushes it every second, so a line is on
 * disk within about a second and a busy edge makes one write per 64 KiB of
 * log instead of one per request. Field values are %-encoded the way
 * CloudFront does (space, control and non-ASCII bytes, quotes, backslash);
 * empty values are "-". */
#include "edge/edge_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_FIELD_MAX 2048
#define LOG_FLUSH_BYTES (64 * 1024) /* or every second (edge_log_flush) */

static const char log_header[] =
    "#Version: 1.0\n"
    "#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status "
    "cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id "
    "x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher "
    "x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port "
    "time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len "
    "sc-range-start sc-range-end\n";

int64_t edge_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

ct_err edge_log_open(ct_edge *e, const char *data_dir)
{
    pthread_mutex_init(&e->log_lock, NULL);
    pthread_mutex_init(&e->log_write_lock, NULL);
    e->log_lock_ready = 1;
    e->log_fd = -1;
    if (!data_dir || !*data_dir)
        return CT_OK;
    char path[4096];
    snprintf(path, sizeof path, "%s/edge", data_dir);
    if (mkdir(path, 0700) && errno != EEXIST)
        return CT_ERR_IO;
    snprintf(path, sizeof path, "%s/edge/access.log", data_dir);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        ct_error("edge: cannot open %s: %s", path, strerror(errno));
        return CT_ERR_IO;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size == 0 &&
        write(fd, log_header, sizeof log_header - 1) < 0)
        ct_warn("edge: cannot write %s: %s", path, strerror(errno));
    e->log_fd = fd;
    e->log_flushed_ms = ct_mono_ms();
    return CT_OK;
}

/* Called with log_lock held; returns with it released. The buffered lines
 * are swapped with the spare buffer and written outside log_lock, so other
 * threads keep appending during the write; log_write_lock (taken before
 * log_lock is let go) keeps the writes in order. */
static void flush_unlock(ct_edge *e)
{
    if (!e->log_buf.len || e->log_fd < 0) {
        e->log_flushed_ms = ct_mono_ms();
        pthread_mutex_unlock(&e->log_lock);
        return;
    }
    pthread_mutex_lock(&e->log_write_lock);
    ct_buf out = e->log_buf;
    e->log_buf = e->log_spare;
    e->log_buf.len = 0;
    e->log_spare = (ct_buf)CT_BUF_INIT;
    e->log_flushed_ms = ct_mono_ms();
    pthread_mutex_unlock(&e->log_lock);
    if (write(e->log_fd, out.data, out.len) < 0)
        ct_warn("edge: access log write: %s", strerror(errno));
    out.len = 0;
    e->log_spare = out; /* under log_write_lock: only a writer touches it */
    pthread_mutex_unlock(&e->log_write_lock);
}

void edge_log_flush(ct_edge *e)
{
    if (e->log_fd < 0)
        return;
    pthread_mutex_lock(&e->log_lock);
    flush_unlock(e);
}

/* A loop thread's lines: appended without a lock and written (O_APPEND,
 * one write) at 64 KiB or a second, the same rule as the shared buffer;
 * lines of different threads interleave by chunk. Two threads taking one
 * mutex per request stalled each other whenever the holder lost its core
 * (2 cores shared with the clients): a tail latency nginx's workers,
 * which share nothing, do not have. */
static _Thread_local ct_edge *tl_edge;
static _Thread_local ct_buf tl_buf;
static _Thread_local int64_t tl_flushed_ms;

void edge_log_thread_begin(ct_edge *e)
{
    tl_edge = e;
    tl_flushed_ms = ct_mono_ms();
}

void edge_log_thread_flush(ct_edge *e, int end)
{
    if (tl_edge != e)
        return;
    if (tl_buf.len && e->log_fd >= 0) {
        pthread_mutex_lock(&e->log_write_lock);
        if (write(e->log_fd, tl_buf.data, tl_buf.len) < 0)
            ct_warn("edge: access log write: %s", strerror(errno));
        pthread_mutex_unlock(&e->log_write_lock);
    }
    tl_buf.len = 0;
    tl_flushed_ms = ct_mono_ms();
    if (end) {
        ct_buf_free(&tl_buf);
        tl_edge = NULL;
    }
}

void edge_log_close(ct_edge *e)
{
    if (e->log_lock_ready) { /* start-up may fail before edge_log_open */
        edge_log_flush(e);
        pthread_mutex_destroy(&e->log_lock);
        pthread_mutex_destroy(&e->log_write_lock);
    }
    if (e->log_fd >= 0)
        close(e->log_fd);
    e->log_fd = -1;
    ct_buf_free(&e->log_buf);
    ct_buf_free(&e->log_spare);
    e->log_lock_ready = 0;
}

/* x-edge-request-id: unique, not secret (it is only logged): a random
 * 10-character process prefix and a base-62 counter, so a request costs no
 * RAND_bytes (and its getpid fork check). */
static char id_prefix[11];
static pthread_once_t id_once = PTHREAD_ONCE_INIT;
static _Atomic uint64_t id_counter;
static void id_init(void) { ct_random_alnum(id_prefix, 10, 0); }

static void request_id(char out[24])
{
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    pthread_once(&id_once, id_init);
    uint64_t n = ++id_counter;
    memcpy(out, id_prefix, 10);
    for (int i = 19; i >= 10; i--) {
        out[i] = b62[n % 62];
        n /= 62;
    }
    out[20] = '\0';
}

void edge_log_begin(edge_reqlog *lg)
{
    memset(lg, 0, sizeof *lg);
    lg->start_ms = ct_now_ms();
    lg->t0_us = edge_now_us();
    lg->range_start = lg->range_end = -1;
    request_id(lg->request_id);
}

void edge_log_note(edge_reqlog *lg, edge_resp *mr, int status)
{
    lg->ttfb_us = edge_now_us() - lg->t0_us;
    const char *ct = edge_resp_get_header(mr, "Content-Type");
    const char *xc = edge_resp_get_header(mr, "X-Cache");
    const char *cr = edge_resp_get_header(mr, "Content-Range");
    /* copies by hand: printf is slow in this process (libquadmath's hooks) */
    size_t n = ct ? strnlen(ct, sizeof lg->content_type - 1) : 0;
    memcpy(lg->content_type, ct ? ct : "", n);
    lg->content_type[n] = '\0';
    if (status >= 300 && status < 400 && status != 304) {
        strcpy(lg->result, "Redirect");
    } else if (xc) {
        n = strcspn(xc, " ");
        n = n < sizeof lg->result - 1 ? n : sizeof lg->result - 1;
        memcpy(lg->result, xc, n);
        lg->result[n] = '\0';
    } else
        strcpy(lg->result, status >= 400 ? "Error" : "Miss");
    long long a, b;
    if (cr && sscanf(cr, "bytes %lld-%lld/", &a, &b) == 2) {
        lg->range_start = a;
        lg->range_end = b;
    }
    lg->content_len = edge_resp_length(mr);
}

/* Bytes a log field %-encodes: space, controls, DEL and non-ASCII, quotes,
 * backslash (a table: a signed URL's query is hundreds of bytes a line). */
static const uint64_t log_escape[4] = {
    0x1ffffffffull | 1ull << '"' | 1ull << '\'', /* 0x00-0x20, quotes */
    1ull << ('\\' - 64) | 1ull << 63,           /* backslash, DEL */
    ~0ull, ~0ull,                                /* non-ASCII */
};
#define LOG_ESCAPE(ch) ((log_escape[(ch) >> 6] >> ((ch) & 63)) & 1)

/* A line is formatted into a stack buffer and only a very long one (a
 * huge cookie or query) moves to the heap: no malloc per request. */
typedef struct {
    char *p;
    size_t len, cap;
    ct_buf heap; /* used once p overflowed */
    int bad;     /* out of memory: the line is dropped */
} logw;

static void lw_append(logw *w, const char *s, size_t n)
{
    if (!w->heap.data && w->len + n <= w->cap) {
        memcpy(w->p + w->len, s, n);
        w->len += n;
        return;
    }
    if (!w->heap.data && ct_buf_append(&w->heap, w->p, w->len))
        w->bad = 1;
    if (ct_buf_append(&w->heap, s, n))
        w->bad = 1;
}

/* Appends s %-encoded (or "-" when empty) and a separator; runs of plain
 * bytes are copied at once. */
static void put_field(logw *b, const char *s, char sep)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!s || !*s)
        lw_append(b, "-", 1);
    size_t n = 0;
    while (s && s[n] && n < LOG_FIELD_MAX) {
        size_t run = n;
        while (run < LOG_FIELD_MAX && !LOG_ESCAPE((unsigned char)s[run]))
            run++; /* stops at the NUL too: it is escaped */
        if (run > n) {
            lw_append(b, s + n, run - n);
            n = run;
            continue;
        }
        unsigned char ch = (unsigned char)s[n++];
        char esc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
        lw_append(b, esc, 3);
    }
    lw_append(b, &sep, 1);
}

/* Decimal digits of v (>= 0) ending at end; returns the first digit.
 * Hand-rolled: the log line is on every request's path and printf's
 * machinery (positional parsing, floats) was a tenth of the edge's CPU. */
static char *digits(char *end, unsigned long long v, int min_width)
{
    char *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v || end - p < min_width);
    return p;
}

static void put_num(logw *b, long long v, char sep)
{
    char tmp[24];
    tmp[23] = '\0';
    put_field(b, v < 0 ? NULL : digits(tmp + 23, (unsigned long long)v, 1), sep);
}

/* Microseconds as seconds with 3 decimals ("0.004"). */
static void put_secs(logw *b, int64_t us, char sep)
{
    char tmp[32];
    tmp[31] = '\0';
    int64_t ms = us < 0 ? 0 : us / 1000;
    char *p = digits(tmp + 31, (unsigned long long)(ms % 1000), 3);
    *--p = '.';
    p = digits(p, (unsigned long long)(ms / 1000), 1);
    put_field(b, p, sep);
}

static int count_header(void *cls, const char *k, const char *v)
{
    *(size_t *)cls += strlen(k) + (v ? strlen(v) : 0) + 4;
    return 0;
}

static void format_line(logw *b, edge_conn *c, const edge_reqlog *lg,
                        const edge_logline *l)
{
    char date[16], tm[16], stem[LOG_FIELD_MAX];
    time_t t = (time_t)(lg->start_ms / 1000);
    struct tm g;
    gmtime_r(&t, &g);
    char *p = digits(date + 10, (unsigned long long)g.tm_mday, 2);
    *--p = '-';
    p = digits(p, (unsigned long long)g.tm_mon + 1, 2);
    *--p = '-';
    digits(p, (unsigned long long)g.tm_year + 1900, 4);
    date[10] = '\0';
    p = digits(tm + 8, (unsigned long long)g.tm_sec, 2);
    *--p = ':';
    p = digits(p, (unsigned long long)g.tm_min, 2);
    *--p = ':';
    digits(p, (unsigned long long)g.tm_hour, 2);
    tm[8] = '\0';
    const char *q = strchr(l->raw, '?');
    size_t sl = q ? (size_t)(q - l->raw) : strlen(l->raw);
    if (sl >= sizeof stem)
        sl = sizeof stem - 1;
    memcpy(stem, l->raw, sl);
    stem[sl] = '\0';
    size_t cs_bytes = strlen(l->method) + strlen(l->raw) + 12;
    edge_hdr_each(c, count_header, &cs_bytes);
    put_field(b, date, '\t');
    put_field(b, tm, '\t');
    put_field(b, "CT1", '\t');
    put_num(b, (long long)l->bytes, '\t');
    put_field(b, l->ip, '\t');
    put_field(b, l->method, '\t');
    put_field(b, l->host, '\t');
    put_field(b, stem, '\t');
    put_num(b, l->status, '\t');
    put_field(b, edge_hdr(c, "Referer"), '\t');
    put_field(b, edge_hdr(c, "User-Agent"), '\t');
    put_field(b, q ? q + 1 : NULL, '\t');
    put_field(b, edge_hdr(c, "Cookie"), '\t');
    put_field(b, lg->result[0] ? lg->result : "Error", '\t');
    put_field(b, lg->request_id, '\t');
    put_field(b, edge_hdr(c, "Host"), '\t');
    put_field(b, l->secure ? "https" : "http", '\t');
    put_num(b, (long long)cs_bytes, '\t');
    put_secs(b, edge_now_us() - lg->t0_us, '\t');
    put_field(b, edge_hdr(c, "X-Forwarded-For"), '\t');
    put_field(b, edge_conn_tls_version(c), '\t'); /* ssl-protocol */
    put_field(b, edge_conn_tls_cipher(c), '\t');
    put_field(b, lg->result[0] ? lg->result : "Error", '\t');
    put_field(b, lg->version, '\t');
    put_field(b, NULL, '\t');
    put_field(b, NULL, '\t');
    put_num(b, edge_client_port(c), '\t');
    put_secs(b, lg->ttfb_us, '\t');
    put_field(b, lg->result[0] ? lg->result : "Error", '\t');
    put_field(b, lg->content_type, '\t');
    put_num(b, (long long)lg->content_len, '\t');
    put_num(b, lg->range_start, '\t');
    put_num(b, lg->range_end, '\n');
}

void edge_log_request(ct_edge *e, edge_conn *c, const edge_reqlog *lg,
                      const edge_logline *l)
{
    edge_metrics_request(e, l->status, l->bytes);
    if (e->log_fd < 0)
        return;
    char line[4096];
    logw w = {line, 0, sizeof line, CT_BUF_INIT, 0};
    format_line(&w, c, lg, l);
    const char *text = w.heap.data ? w.heap.data : w.p;
    size_t len = w.heap.data ? w.heap.len : w.len;
    if (!w.bad && tl_edge == e) {
        if (ct_buf_append(&tl_buf, text, len) == CT_OK &&
            (tl_buf.len >= LOG_FLUSH_BYTES || ct_mono_ms() - tl_flushed_ms >= 1000))
            edge_log_thread_flush(e, 0);
    } else if (!w.bad) { /* a cut line is never written */
        pthread_mutex_lock(&e->log_lock);
        ct_buf_append(&e->log_buf, text, len);
        if (e->log_buf.len >= LOG_FLUSH_BYTES || ct_mono_ms() - e->log_flushed_ms >= 1000)
            flush_unlock(e);
        else
            pthread_mutex_unlock(&e->log_lock);
    }
    ct_buf_free(&w.heap);
}
