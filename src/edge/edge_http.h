/* edge_http.h: the seam between the edge's handlers and its own HTTP/1.1
 * server loop (edge_loop.c). A handler reads the request through edge_conn
 * (headers, cookies, client address) and answers with one edge_resp:
 * headers plus a body that is a buffer, a file range or a reader callback.
 * The loop writes the status line, Date, the headers, Content-Length and
 * Connection itself, coalesced with small bodies into one write.
 * Ownership: an edge_resp belongs to its creator until edge_conn_queue,
 * which takes it (also on failure). Pointers returned by edge_hdr and
 * edge_cookie live until the response has been sent. */
#ifndef CT_EDGE_HTTP_H
#define CT_EDGE_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct edge_resp edge_resp;
typedef struct edge_conn edge_conn;

/* Reader body: fills buf with up to max bytes at body offset pos; returns
 * the count, or EDGE_READER_ERROR to abort the connection (a body shorter
 * than advertised is never sent). */
#define EDGE_READER_ERROR ((ssize_t)-1)
typedef ssize_t (*edge_reader_fn)(void *cls, uint64_t pos, char *buf, size_t max);
typedef void (*edge_free_fn)(void *cls);

/* Body of len bytes at data; free_fn(cls) runs when the response is done
 * (NULL: data is static). */
edge_resp *edge_resp_buffer(size_t len, const void *data, edge_free_fn free_fn, void *cls);
/* Takes a malloc'd buffer. */
edge_resp *edge_resp_take(size_t len, char *data);
edge_resp *edge_resp_empty(void);
/* len bytes of fd from off; takes fd (closed also on failure). */
edge_resp *edge_resp_file(int fd, uint64_t off, uint64_t len);
/* len bytes produced by rd; free_fn(cls) when done (also on failure). */
edge_resp *edge_resp_reader(uint64_t len, edge_reader_fn rd, void *cls, edge_free_fn free_fn);
/* Content-Length len, no body (HEAD). */
edge_resp *edge_resp_length_only(uint64_t len);
/* 0 on success; -1 for a name or value with CR/LF/NUL (never sent: a
 * stored value cannot split the response) or when the header block is full. */
int edge_resp_header(edge_resp *r, const char *name, const char *value);
/* The first value of a header added to r, or NULL. */
const char *edge_resp_get_header(const edge_resp *r, const char *name);
/* The body length (Content-Length) of r. */
uint64_t edge_resp_length(const edge_resp *r);
void edge_resp_free(edge_resp *r);

/* First request header of that name (case-insensitive), or NULL. */
const char *edge_hdr(edge_conn *c, const char *name);
/* A cookie of the Cookie header(s), or NULL. */
const char *edge_cookie(edge_conn *c, const char *name);
/* Calls fn for every request header; stops when fn returns non-zero. */
void edge_hdr_each(edge_conn *c, int (*fn)(void *cls, const char *k, const char *v), void *cls);
/* Textual client address ("-" when unknown) and port (-1). */
void edge_client_ip(edge_conn *c, char ip[64]);
int edge_client_port(edge_conn *c);
/* TLS protocol and cipher names of the connection, or NULL on plain HTTP. */
const char *edge_conn_tls_version(edge_conn *c);
const char *edge_conn_tls_cipher(edge_conn *c);
/* Queues the answer to the current request (takes r). 1 on success, 0 on
 * failure (the connection is then closed without an answer). */
int edge_conn_queue(edge_conn *c, int status, edge_resp *r);

#endif
