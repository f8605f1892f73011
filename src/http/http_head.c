/* http_head.c: the request head parser of the edge's HTTP/1.1 server.
 *
 * DESIGN: the head is untrusted input, so the grammar is not ours: it is
 * nodejs's http-parser 2.9 (Debian libhttp-parser-dev), the parser Node.js
 * shipped for a decade, strict mode. This file only collects its callbacks
 * into offsets of the caller's buffer and enforces our limits: the whole
 * head in HTTP_HEAD_MAX bytes (the caller's buffer size), at most
 * HTTP_HDRS_MAX header lines, no obs-fold continuation lines, no CONNECT.
 *
 * One part is ours: the request target. http-parser walks a URL through
 * its state machine byte by byte, which made a signed URL's ~400-byte
 * query a tenth of the request's CPU. So the request line is split here
 * at its two spaces (RFC 9112 §3: method SP request-target SP version)
 * and http-parser is given the same line with the target replaced by "/":
 * it still judges the method, the version and every header. The target
 * itself only has to be non-empty visible bytes (no control bytes, space
 * or DEL) -- what non-strict http-parser let through in a path or query,
 * high bytes included -- and its form (origin or absolute) is checked by
 * the handler (edge_target_split).
 * Pure (no I/O, no allocation); fuzzed by fuzz/fuzz_edge_http.c. */
#include "http/http_head.h"

#include <http_parser.h>
#include <string.h>
#include <strings.h>

typedef struct {
    char *base;
    http_head *h;
    int last;  /* 1 = last callback was a field, 2 = a value */
    const char *end_of_last;
    int done;
    int too_many, folded;
} head_ctx;

static int on_url(http_parser *p, const char *at, size_t len)
{
    head_ctx *x = p->data;
    http_head *h = x->h;
    if (h->url_len && x->end_of_last == at) /* a later piece of the same URL */
        h->url_len += len;
    else {
        h->url_off = (size_t)(at - x->base);
        h->url_len = len;
    }
    x->end_of_last = at + len;
    return 0;
}

static int on_field(http_parser *p, const char *at, size_t len)
{
    head_ctx *x = p->data;
    http_head *h = x->h;
    if (x->last == 1 && x->end_of_last == at) {
        h->h[h->n - 1].nl += len;
    } else {
        if (h->n == HTTP_HDRS_MAX) {
            x->too_many = 1;
            return 1;
        }
        http_hdr_span *s = &h->h[h->n++];
        s->no = (size_t)(at - x->base);
        s->nl = len;
        s->vo = s->vl = 0;
        s->has_v = 0;
    }
    x->last = 1;
    x->end_of_last = at + len;
    return 0;
}

static int on_value(http_parser *p, const char *at, size_t len)
{
    head_ctx *x = p->data;
    http_head *h = x->h;
    if (!h->n)
        return 1;
    http_hdr_span *s = &h->h[h->n - 1];
    if (x->last == 2) {
        if (x->end_of_last != at) { /* obs-fold: RFC 9112 §5.2 lets us reject it */
            x->folded = 1;
            return 1;
        }
        s->vl += len;
    } else {
        s->vo = (size_t)(at - x->base);
        s->vl = len;
        s->has_v = 1;
    }
    x->last = 2;
    x->end_of_last = at + len;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    head_ctx *x = p->data;
    http_head *h = x->h;
    h->has_body = (p->flags & F_CHUNKED) || p->uses_transfer_encoding ||
                  (p->content_length > 0 && p->content_length != UINT64_MAX);
    h->keep_alive = http_should_keep_alive(p);
    if (h->has_body) { /* never read: the answer closes the connection */
        x->done = 1;
        http_parser_pause(p, 1);
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    head_ctx *x = p->data;
    x->done = 1;
    http_parser_pause(p, 1);
    return 0;
}

/* NUL-terminates every span in place (each is followed by a delimiter the
 * parser has consumed), trimming trailing blanks of values. */
static void terminate(char *buf, http_head *h)
{
    buf[h->url_off + h->url_len] = '\0';
    for (size_t i = 0; i < h->n; i++) {
        http_hdr_span *s = &h->h[i];
        buf[s->no + s->nl] = '\0';
        if (!s->has_v)
            continue;
        while (s->vl && (buf[s->vo + s->vl - 1] == ' ' || buf[s->vo + s->vl - 1] == '\t'))
            s->vl--;
        buf[s->vo + s->vl] = '\0';
    }
}

/* RFC 9110 §5.1 token / §5.5 field-value checks: Debian builds
 * http-parser non-strict, which lets a space into a name and CTLs into a
 * value. 0 when the span is acceptable. */
static int bad_name(const char *s, size_t n)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~";
    if (!n)
        return 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch && strchr(tchar, ch))))
            return 1;
    }
    return 0;
}

static int bad_value(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return 1;
    }
    return 0;
}

/* Offset just past the blank line ending the head, or 0. */
static size_t head_end(const char *buf, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (buf[i + 1] == '\n')
            return i + 2;
        if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* The request line "METHOD SP target SP version" (after any empty lines,
 * which RFC 9112 §2.2 lets a server skip): the target's span, where the
 * headers start (*hdr_off) and, in line (cap n), the same line with the
 * target replaced by "/" for http-parser. Its length, or 0 when the line
 * has no such shape. */
static size_t split_request_line(const char *buf, size_t end, size_t *t_off, size_t *t_len,
                                 size_t *hdr_off, char *line, size_t n)
{
    size_t s0 = 0;
    while (s0 < end && (buf[s0] == '\r' || buf[s0] == '\n'))
        s0++;
    const char *lf = memchr(buf + s0, '\n', end - s0);
    size_t lf_at = lf ? (size_t)(lf - buf) : 0;
    const char *sp1 = lf ? memchr(buf + s0, ' ', lf_at - s0) : NULL;
    if (!sp1)
        return 0;
    size_t ml = (size_t)(sp1 - buf) - s0, to = s0 + ml + 1;
    size_t line_end = buf[lf_at - 1] == '\r' ? lf_at - 1 : lf_at;
    if (to >= line_end)
        return 0;
    const char *sp2 = memchr(buf + to, ' ', line_end - to);
    size_t tl = sp2 ? (size_t)(sp2 - buf) - to : line_end - to;
    size_t tail = lf_at + 1 - (to + tl); /* " HTTP/1.1\r\n", or the line end */
    if (tl == 0 || ml + 2 + tail > n)
        return 0;
    for (size_t i = 0; i < tl; i++)
        if ((unsigned char)buf[to + i] <= 0x20 || buf[to + i] == 0x7f)
            return 0;
    memcpy(line, buf + s0, ml);
    line[ml] = ' '; /* a counted line for http-parser, not a C string */
    line[ml + 1] = '/';
    memcpy(line + ml + 2, buf + to + tl, tail);
    *t_off = to;
    *t_len = tl;
    *hdr_off = lf_at + 1;
    return ml + 2 + tail;
}

int http_head_parse(char *buf, size_t len, size_t cap, http_head *h)
{
    memset(h, 0, sizeof *h);
    size_t end = head_end(buf, len);
    if (!end) {
        if (len >= cap) {
            h->error_status = 431;
            return -1;
        }
        return 0;
    }
    static const http_parser_settings settings = {
        .on_url = on_url,
        .on_header_field = on_field,
        .on_header_value = on_value,
        .on_headers_complete = on_headers_complete,
        .on_message_complete = on_message_complete,
    };
    char line[64]; /* the longest method and "HTTP/x.y" fit many times over */
    size_t t_off = 0, t_len = 0, rest = 0;
    size_t ll = split_request_line(buf, end, &t_off, &t_len, &rest, line, sizeof line);
    if (!ll) {
        h->error_status = 400;
        return -1;
    }
    http_parser p;
    http_parser_init(&p, HTTP_REQUEST);
    head_ctx x = {.base = buf, .h = h};
    p.data = &x;
    size_t n = http_parser_execute(&p, &settings, line, ll);
    enum http_errno err = HTTP_PARSER_ERRNO(&p);
    h->url_off = t_off; /* on_url saw the "/" stand-in */
    h->url_len = t_len;
    x.end_of_last = NULL;
    if (err == HPE_OK && n == ll && !x.done)
        n = http_parser_execute(&p, &settings, buf + rest, end - rest);
    err = HTTP_PARSER_ERRNO(&p);
    if (x.too_many) {
        h->error_status = 431;
        return -1;
    }
    if (!x.done || (err != HPE_OK && err != HPE_PAUSED) || x.folded ||
        p.method == HTTP_CONNECT) {
        h->error_status = 400;
        return -1;
    }
    for (size_t i = 0; i < h->n; i++)
        if (bad_name(buf + h->h[i].no, h->h[i].nl) ||
            (h->h[i].has_v && bad_value(buf + h->h[i].vo, h->h[i].vl))) {
            h->error_status = 400;
            return -1;
        }
    h->upgrade = p.upgrade;
    h->http_major = p.http_major;
    h->http_minor = p.http_minor;
    const char *m = http_method_str((enum http_method)p.method);
    size_t ml = strlen(m);
    if (ml >= sizeof h->method)
        ml = sizeof h->method - 1;
    memcpy(h->method, m, ml);
    h->method[ml] = '\0';
    (void)n; /* a paused parser may stop short of the blank line (headers
              * complete with a body); the head ends there either way */
    h->head_len = end;
    terminate(buf, h);
    return 1;
}

const char *http_head_get(const char *buf, const http_head *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(buf + h->h[i].no, name) == 0)
            return h->h[i].has_v ? buf + h->h[i].vo : "";
    return NULL;
}
