/* Private to http/: per-request state. */
#ifndef CT_HTTP_INTERNAL_H
#define CT_HTTP_INTERNAL_H

#include "http/http.h"
#include "iam/iam.h"

#include <microhttpd.h>
#include <stdio.h>
#include <sys/socket.h>
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

struct ct_http_server {
    struct MHD_Daemon *daemon;
    struct http_front *front;  /* the accept + epoll loop in front of MHD (http_front.c) */
    ct_http_handlers h;
    volatile int stopping;    /* set before MHD_stop_daemon: ends streamed bodies */
};

/* Request state: a heap copy of the raw target; NULL on allocation failure.
 * http_state_free frees the state and everything it owns. */
http_state *http_state_new(const char *raw_target);
void http_state_free(http_state *st);
/* Text form of a client address (IPv4 dotted quad or IPv6) into out (n >= 16). */
void http_client_ip(const struct sockaddr *sa, char *out, size_t n);
/* Once the headers and client_ip are in st: splits the target, numbers the
 * request and authenticates what can be before the body. */
void http_request_begin(ct_http_server *srv, http_state *st, const char *method);
/* A buffered request whose whole body is in st->body: finishes
 * authentication and runs the handler, which fills resp. */
void http_handle_buffered(ct_http_server *srv, http_state *st, ct_http_resp *resp);

/* http_front.c: owns the listening socket; answers bodiless GET/HEAD
 * requests itself from an epoll loop and hands every other connection,
 * untouched, to the MHD daemon (MHD_add_connection). */
typedef struct http_front http_front;
/* Takes ownership of lfd (listening, non-blocking) in every case. */
ct_err http_front_start(ct_http_server *srv, int lfd, http_front **out);
/* Stops the loop threads and closes the listening socket and the
 * connections still in the loop (call before MHD_stop_daemon). */
void http_front_stop(http_front *f);

#endif
