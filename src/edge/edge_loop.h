/* edge_loop.h: the edge's own HTTP/1.1 server loop (edge_loop.c) and the
 * response object it writes (edge_resp.c). Internal to src/edge. */
#ifndef CT_EDGE_LOOP_H
#define CT_EDGE_LOOP_H

#include "edge/edge_internal.h"

enum { EDGE_BODY_MEM = 1, EDGE_BODY_FILE, EDGE_BODY_READER, EDGE_BODY_LENGTH };
#define EDGE_RESP_HDRS_MAX 8192
#define EDGE_RESP_SCRATCH 4

struct edge_resp {
    int kind;
    uint64_t len;             /* body bytes (Content-Length) */
    const char *mem;          /* EDGE_BODY_MEM */
    int fd;                   /* EDGE_BODY_FILE, owned */
    uint64_t off;
    edge_reader_fn rd;        /* EDGE_BODY_READER */
    edge_free_fn free_fn;
    void *cls;
    size_t hlen;
    char hdrs[EDGE_RESP_HDRS_MAX]; /* "Name: value\r\n" lines */
    char scratch[EDGE_RESP_SCRATCH][256]; /* edge_resp_get_header results */
    unsigned next_scratch;
};

typedef struct edge_loop edge_loop;
/* Binds a listening socket for "host:port" (non-blocking); *port is the
 * bound port. */
ct_err edge_listen_socket(const char *listen, int *fd, uint16_t *port);
/* Starts the worker threads serving e->https (TLS with e's PEM cert/key)
 * and e->http (when its fd >= 0). */
ct_err edge_loop_start(ct_edge *e, edge_loop **out);
/* Stops the threads and closes every connection (not the listeners). */
void edge_loop_stop(edge_loop *lp);

#endif
