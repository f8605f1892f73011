/* libFuzzer target: the request head parser of the edge server and the API
 * port's front loop (http/http_head.c over
 * nodejs http-parser), fed as a client would: the input is the bytes on the
 * connection, parsed head after head (pipelining) the way edge_loop.c does,
 * in a buffer of the loop's size.
 * Invariants (abort): a complete head lies inside the bytes given, is not
 * empty, and its URL, names and values are NUL-terminated inside it; at most
 * HTTP_HDRS_MAX headers; a failure names 400 or 431; "incomplete" only while
 * the buffer has room; header lookup returns what the spans say. */
#include "http/http_head.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_head(const char *buf, size_t len, const http_head *h)
{
    if (h->head_len == 0 || h->head_len > len || h->n > HTTP_HDRS_MAX)
        abort();
    if (!h->url_len || h->url_off + h->url_len >= h->head_len || buf[h->url_off + h->url_len])
        abort();
    if (strlen(h->method) == 0 || strlen(h->method) >= sizeof h->method)
        abort();
    for (size_t i = 0; i < h->n; i++) {
        const http_hdr_span *s = &h->h[i];
        if (s->no + s->nl >= h->head_len || buf[s->no + s->nl])
            abort();
        if (s->has_v && (s->vo + s->vl >= h->head_len || buf[s->vo + s->vl]))
            abort();
        if (memchr(buf + s->no, '\n', s->nl) || (s->has_v && memchr(buf + s->vo, '\n', s->vl)))
            abort();
        const char *v = http_head_get(buf, h, buf + s->no);
        if (!v)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(HTTP_HEAD_MAX);
    if (!buf)
        return 0;
    size_t pos = 0;
    for (int round = 0; round < 8 && pos < size; round++) {
        size_t len = size - pos < HTTP_HEAD_MAX ? size - pos : HTTP_HEAD_MAX;
        memcpy(buf, data + pos, len);
        http_head h;
        int rc = http_head_parse(buf, len, HTTP_HEAD_MAX, &h);
        if (rc == 0) {
            if (len == HTTP_HEAD_MAX)
                abort(); /* a full buffer must parse or fail */
            break;
        }
        if (rc < 0) {
            if (h.error_status != 400 && h.error_status != 431)
                abort();
            break;
        }
        check_head(buf, len, &h);
        if (h.has_body || !h.keep_alive)
            break; /* the loop closes after this answer */
        pos += h.head_len;
    }
    free(buf);
    return 0;
}
