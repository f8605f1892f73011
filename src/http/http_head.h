/* http_head.h: HTTP/1.1 request head parsing for the edge's server loop and
 * the API port's front loop (http_front.c)
 * (http_head.c over nodejs http-parser 2.9). Pure; fuzzed by
 * fuzz/fuzz_edge_http.c. */
#ifndef CT_HTTP_HEAD_H
#define CT_HTTP_HEAD_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_HEAD_MAX 16384 /* request line + headers, bytes */
#define HTTP_HDRS_MAX 64    /* header lines */

typedef struct {
    size_t no, nl; /* name: offset, length */
    size_t vo, vl; /* value (trailing blanks trimmed) */
    int has_v;
} http_hdr_span;

typedef struct {
    char method[16];
    int http_major, http_minor;
    size_t url_off, url_len;
    size_t n;
    http_hdr_span h[HTTP_HDRS_MAX];
    int keep_alive; /* HTTP/1.1 without "Connection: close", or 1.0 with keep-alive */
    int has_body;   /* Content-Length > 0 or Transfer-Encoding: never read */
    int upgrade;
    size_t head_len;   /* bytes of buf the head took */
    int error_status;  /* 400 or 431 when -1 is returned */
} http_head;

/* Parses the head at the start of buf (len bytes held, cap the buffer's
 * size). 1: complete, *h filled, the URL, names and values NUL-terminated
 * in place (buf is modified); 0: incomplete, read more; -1: malformed or
 * over a limit, h->error_status says which answer to give before closing. */
int http_head_parse(char *buf, size_t len, size_t cap, http_head *h);
/* First value of header name (case-insensitive) after a complete parse. */
const char *http_head_get(const char *buf, const http_head *h, const char *name);

#endif
