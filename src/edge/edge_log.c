/* edge_log.c: CloudFront standard access logs (W3C extended, tab separated)
 * appended to DIR/edge/access.log, one line per viewer request. Lines are
 * formatted on the request's thread and written under a mutex into a
 * buffered FILE flushed per line (no fsync), so a request waits at most for
 * another thread's short write. Field values are %-encoded the way
 * CloudFront does (space, control and non-ASCII bytes, quotes, backslash);
 * empty values are "-". */
#include "edge/edge_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define LOG_FIELD_MAX 2048

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
    e->log_lock_ready = 1;
    if (!data_dir || !*data_dir)
        return CT_OK;
    char path[4096];
    snprintf(path, sizeof path, "%s/edge", data_dir);
    if (mkdir(path, 0700) && errno != EEXIST)
        return CT_ERR_IO;
    snprintf(path, sizeof path, "%s/edge/access.log", data_dir);
    FILE *f = fopen(path, "a");
    if (!f) {
        ct_error("edge: cannot open %s: %s", path, strerror(errno));
        return CT_ERR_IO;
    }
    if (ftell(f) == 0) {
        fputs(log_header, f);
        fflush(f);
    }
    e->log = f;
    return CT_OK;
}

void edge_log_close(ct_edge *e)
{
    if (e->log)
        fclose(e->log);
    e->log = NULL;
    if (e->log_lock_ready) /* start-up may fail before edge_log_open */
        pthread_mutex_destroy(&e->log_lock);
    e->log_lock_ready = 0;
}

void edge_log_begin(edge_reqlog *lg)
{
    memset(lg, 0, sizeof *lg);
    lg->start_ms = ct_now_ms();
    lg->t0_us = edge_now_us();
    lg->range_start = lg->range_end = -1;
    ct_random_alnum(lg->request_id, 20, 0);
    lg->request_id[20] = '\0';
}

void edge_log_note(edge_reqlog *lg, struct MHD_Response *mr, int status)
{
    lg->ttfb_us = edge_now_us() - lg->t0_us;
    const char *ct = MHD_get_response_header(mr, "Content-Type");
    const char *xc = MHD_get_response_header(mr, "X-Cache");
    const char *cr = MHD_get_response_header(mr, "Content-Range");
    const char *cl = MHD_get_response_header(mr, MHD_HTTP_HEADER_CONTENT_LENGTH);
    snprintf(lg->content_type, sizeof lg->content_type, "%s", ct ? ct : "");
    if (status >= 300 && status < 400 && status != 304)
        strcpy(lg->result, "Redirect");
    else if (xc)
        snprintf(lg->result, sizeof lg->result, "%.*s", (int)strcspn(xc, " "), xc);
    else
        strcpy(lg->result, status >= 400 ? "Error" : "Miss");
    long long a, b;
    if (cr && sscanf(cr, "bytes %lld-%lld/", &a, &b) == 2) {
        lg->range_start = a;
        lg->range_end = b;
    }
    lg->content_len = cl ? strtoull(cl, NULL, 10) : 0;
}

/* Appends s %-encoded (or "-" when empty) and a separator. */
static void put_field(ct_buf *b, const char *s, char sep)
{
    size_t n = 0;
    if (!s || !*s)
        ct_buf_puts(b, "-");
    for (; s && *s && n < LOG_FIELD_MAX; s++, n++) {
        unsigned char ch = (unsigned char)*s;
        if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\'' || ch == '\\')
            ct_buf_printf(b, "%%%02X", ch);
        else
            ct_buf_append(b, s, 1);
    }
    ct_buf_append(b, &sep, 1);
}

static void put_num(ct_buf *b, long long v, char sep)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%lld", v);
    put_field(b, v < 0 ? NULL : tmp, sep);
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *k,
                                    const char *v)
{
    *(size_t *)cls += strlen(k) + (v ? strlen(v) : 0) + 4;
    return MHD_YES;
}

static int client_port(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return -1;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return -1;
}

static void format_line(ct_buf *b, struct MHD_Connection *c, const edge_reqlog *lg,
                        const edge_logline *l)
{
    char date[16], tm[16], secs[32], ttfb[32], stem[LOG_FIELD_MAX];
    time_t t = (time_t)(lg->start_ms / 1000);
    struct tm g;
    gmtime_r(&t, &g);
    strftime(date, sizeof date, "%Y-%m-%d", &g);
    strftime(tm, sizeof tm, "%H:%M:%S", &g);
    snprintf(secs, sizeof secs, "%.3f", (double)(edge_now_us() - lg->t0_us) / 1e6);
    snprintf(ttfb, sizeof ttfb, "%.3f", (double)lg->ttfb_us / 1e6);
    const char *q = strchr(l->raw, '?');
    size_t sl = q ? (size_t)(q - l->raw) : strlen(l->raw);
    snprintf(stem, sizeof stem, "%.*s", (int)(sl < sizeof stem ? sl : sizeof stem - 1), l->raw);
    size_t cs_bytes = strlen(l->method) + strlen(l->raw) + 12;
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, &cs_bytes);
    put_field(b, date, '\t');
    put_field(b, tm, '\t');
    put_field(b, "CT1", '\t');
    put_num(b, (long long)l->bytes, '\t');
    put_field(b, l->ip, '\t');
    put_field(b, l->method, '\t');
    put_field(b, l->host, '\t');
    put_field(b, stem, '\t');
    put_num(b, l->status, '\t');
    put_field(b, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Referer"), '\t');
    put_field(b, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "User-Agent"), '\t');
    put_field(b, q ? q + 1 : NULL, '\t');
    put_field(b, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Cookie"), '\t');
    put_field(b, lg->result[0] ? lg->result : "Error", '\t');
    put_field(b, lg->request_id, '\t');
    put_field(b, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host"), '\t');
    put_field(b, l->secure ? "https" : "http", '\t');
    put_num(b, (long long)cs_bytes, '\t');
    put_field(b, secs, '\t');
    put_field(b, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-For"), '\t');
    put_field(b, NULL, '\t'); /* ssl-protocol: not exposed by MHD without GnuTLS */
    put_field(b, NULL, '\t'); /* ssl-cipher */
    put_field(b, lg->result[0] ? lg->result : "Error", '\t');
    put_field(b, lg->version, '\t');
    put_field(b, NULL, '\t');
    put_field(b, NULL, '\t');
    put_num(b, client_port(c), '\t');
    put_field(b, ttfb, '\t');
    put_field(b, lg->result[0] ? lg->result : "Error", '\t');
    put_field(b, lg->content_type, '\t');
    put_num(b, (long long)lg->content_len, '\t');
    put_num(b, lg->range_start, '\t');
    put_num(b, lg->range_end, '\n');
}

void edge_log_request(ct_edge *e, struct MHD_Connection *c, const edge_reqlog *lg,
                      const edge_logline *l)
{
    edge_metrics_request(e, l->status, l->bytes);
    if (!e->log)
        return;
    ct_buf b = CT_BUF_INIT;
    format_line(&b, c, lg, l);
    if (!b.data)
        return;
    pthread_mutex_lock(&e->log_lock);
    fwrite(b.data, 1, b.len, e->log);
    fflush(e->log);
    pthread_mutex_unlock(&e->log_lock);
    ct_buf_free(&b);
}
