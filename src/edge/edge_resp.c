/* edge_resp.c: edge_resp, one answer of the edge's server loop: a block of
 * "Name: value\r\n" header lines and a body source (buffer, file range,
 * reader callback, or only a length). See edge_http.h. */
#include "edge/edge_loop.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static edge_resp *resp_new(int kind, uint64_t len)
{
    /* Not calloc: the 9 KiB header and scratch space need no zeroing and
     * this runs once per request. */
    edge_resp *r = malloc(sizeof *r);
    if (!r)
        return NULL;
    memset(r, 0, offsetof(edge_resp, hdrs));
    r->hdrs[0] = '\0';
    r->next_scratch = 0;
    r->kind = kind;
    r->len = len;
    r->fd = -1;
    return r;
}

edge_resp *edge_resp_buffer(size_t len, const void *data, edge_free_fn free_fn, void *cls)
{
    edge_resp *r = resp_new(EDGE_BODY_MEM, len);
    if (!r) {
        if (free_fn)
            free_fn(cls);
        return NULL;
    }
    r->mem = data;
    r->free_fn = free_fn;
    r->cls = cls;
    return r;
}

edge_resp *edge_resp_take(size_t len, char *data)
{
    return edge_resp_buffer(len, data, free, data);
}

edge_resp *edge_resp_empty(void) { return edge_resp_buffer(0, "", NULL, NULL); }

edge_resp *edge_resp_file(int fd, uint64_t off, uint64_t len)
{
    edge_resp *r = resp_new(EDGE_BODY_FILE, len);
    if (!r) {
        close(fd);
        return NULL;
    }
    r->fd = fd;
    r->off = off;
    return r;
}

edge_resp *edge_resp_reader(uint64_t len, edge_reader_fn rd, void *cls, edge_free_fn free_fn)
{
    edge_resp *r = resp_new(EDGE_BODY_READER, len);
    if (!r) {
        if (free_fn)
            free_fn(cls);
        return NULL;
    }
    r->rd = rd;
    r->cls = cls;
    r->free_fn = free_fn;
    return r;
}

edge_resp *edge_resp_length_only(uint64_t len) { return resp_new(EDGE_BODY_LENGTH, len); }

static int token_ok(const char *s, int value)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '\r' || ch == '\n' || (!value && (ch <= ' ' || ch == ':' || ch >= 0x7f)))
            return 0;
    }
    return 1;
}

int edge_resp_header(edge_resp *r, const char *name, const char *value)
{
    if (!r || !name || !value || !*name || !token_ok(name, 0) || !token_ok(value, 1))
        return -1;
    size_t nl = strlen(name), vl = strlen(value);
    if (r->hlen + nl + vl + 4 >= sizeof r->hdrs)
        return -1;
    char *p = r->hdrs + r->hlen;
    /* pieces of one line; terminated once below */
    // NOLINTBEGIN(bugprone-not-null-terminated-result)
    memcpy(p, name, nl);
    memcpy(p + nl, ": ", 2);
    memcpy(p + nl + 2, value, vl);
    memcpy(p + nl + 2 + vl, "\r\n", 2);
    // NOLINTEND(bugprone-not-null-terminated-result)
    r->hlen += nl + vl + 4;
    r->hdrs[r->hlen] = '\0';
    return 0;
}

const char *edge_resp_get_header(const edge_resp *r, const char *name)
{
    /* Values are returned in a small rotating scratch owned by r (the log
     * reads a few right after the handler queued the answer). */
    edge_resp *w = (edge_resp *)r;
    size_t nl = strlen(name);
    const char *p = r->hdrs, *end = r->hdrs + r->hlen;
    while (p < end) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        if (!eol)
            break;
        if ((size_t)(eol - p) > nl + 1 && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            size_t vl = (size_t)(eol - p) - nl - 2;
            if (vl >= sizeof w->scratch[0])
                vl = sizeof w->scratch[0] - 1;
            char *out = w->scratch[w->next_scratch++ % EDGE_RESP_SCRATCH];
            memcpy(out, p + nl + 2, vl);
            out[vl] = '\0';
            return out;
        }
        p = eol + 2;
    }
    return NULL;
}

uint64_t edge_resp_length(const edge_resp *r) { return r ? r->len : 0; }

void edge_resp_free(edge_resp *r)
{
    if (!r)
        return;
    if (r->free_fn)
        r->free_fn(r->cls);
    if (r->fd >= 0)
        close(r->fd);
    free(r);
}
