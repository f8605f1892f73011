/* Private to http/: per-request state. */
#ifndef CT_HTTP_INTERNAL_H
#define CT_HTTP_INTERNAL_H

#include "http/http.h"
#include "iam/iam.h"

#include <stdio.h>
#include <unistd.h>

#define HTTP_MAX_REQ_HEADERS 100
/* File bodies up to this size are sent from memory (one writev with the header). */
#define HTTP_SMALL_FD_BODY (64 * 1024)
/* MHD's per-connection pool (headers + read buffer). MHD zeroes all of it
 * after every request: 256 KiB was 5 % of a small GET's CPU. */
#define HTTP_CONN_MEMORY (64 * 1024)

typedef struct {
    ct_http_req req;
    char *raw_target;
    char *path;
    char client_ip[64];
    int n_headers;
    ct_http_header_kv headers[HTTP_MAX_REQ_HEADERS];
    int too_many_headers;
    ct_buf joined;            /* scratch for multi-valued header lookups */
    ct_buf body;
    int body_too_large;
    int started, responded, streaming;
    void *stream_state;
    ct_err stream_err;
    int auth_deferred;        /* signature needs the body's SHA-256 */
    int check_body_sha;       /* declared hex payload hash to compare with the body */
    ct_sigv4_auth deferred_auth;
} http_state;

#endif
