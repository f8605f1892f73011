/* edge_respond.c: the response helpers every edge answer goes through
 * (common and CORS headers, S3-shaped XML errors, redirects, /metrics) and
 * the per-request accessors (client address, request headers). */
#include "edge/edge_internal.h"

#include <ctype.h>

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* Textual client address ("-" when unknown). */
void edge_client_ip(struct MHD_Connection *c, char ip[64])
{
    strcpy(ip, "-");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, 64);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, 64);
    }
}

/* ---- responses ---- */

void edge_common_headers(struct MHD_Response *mr, const char *x_cache)
{
    MHD_add_response_header(mr, "Server", "CatTube");
    MHD_add_response_header(mr, "X-Cache", x_cache);
}

/* hostname of "scheme://host[:port]" or "host[:port]" into out; 0 if malformed. */
static int host_part(const char *v, char *out, size_t n)
{
    const char *p = strstr(v, "://");
    p = p ? p + 3 : v;
    size_t len = strcspn(p, ":/");
    if (*p == '[') /* IPv6 literal: only ever compared whole */
        len = strcspn(p, "]") + 1;
    if (len == 0 || len >= n)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)p[i]) && !strchr(".-[]:", p[i]))
            return 0;
    memcpy(out, p, len);
    out[len] = '\0';
    return 1;
}

/* Same site: the Origin's host is the request's host, or its parent domain
 * (the Host minus its first label: a distribution's <id>.cattube.localhost
 * or an alias's site), or below it. IP hosts match only exactly. */
static int same_site(const char *origin, const char *host)
{
    char oh[256], hh[256];
    if (!host_part(origin, oh, sizeof oh) || !host_part(host, hh, sizeof hh))
        return 0;
    if (strcasecmp(oh, hh) == 0)
        return 1;
    if (strspn(hh, "0123456789.") == strlen(hh) || hh[0] == '[')
        return 0;
    const char *parent = strchr(hh, '.');
    if (!parent || !strchr(parent + 1, '.'))
        return 0; /* never a bare TLD like .localhost or .com */
    parent++;
    size_t lo = strlen(oh), lp = strlen(parent);
    return strcasecmp(oh, parent) == 0 ||
           (lo > lp && oh[lo - lp - 1] == '.' && strcasecmp(oh + lo - lp, parent) == 0);
}

void edge_cors_headers(struct MHD_Response *mr, struct MHD_Connection *c, int vary_encoding)
{
    /* Any origin may read without credentials ('*': hls.js / dash.js players
     * anywhere). A player page on the distribution's own site also gets its
     * Origin echoed with credentials, so signed cookies work for private
     * videos; other sites never see credentialed answers. */
    const char *origin = c ? MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin") : NULL;
    const char *host = c ? MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host") : NULL;
    if (origin && host && strlen(origin) < 256 && same_site(origin, host)) {
        MHD_add_response_header(mr, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(mr, "Access-Control-Allow-Credentials", "true");
    } else {
        MHD_add_response_header(mr, "Access-Control-Allow-Origin", "*");
    }
    MHD_add_response_header(mr, "Vary", vary_encoding ? "Accept-Encoding, Origin" : "Origin");
    MHD_add_response_header(mr, "Access-Control-Expose-Headers",
                            "Content-Length, Content-Range, Accept-Ranges, ETag, Last-Modified");
}

int edge_queue(edge_req *r, struct MHD_Connection *c, int status,
                             struct MHD_Response *mr, uint64_t bytes)
{
    if (!mr)
        return MHD_NO;
    r->status = status;
    r->bytes = bytes;
    edge_log_note(&r->lg, mr, status);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, mr);
    MHD_destroy_response(mr);
    return ret;
}

int edge_send_error(edge_req *r, struct MHD_Connection *c, int status,
                                  const char *code, const char *message, const char *key)
{
    ct_buf b = CT_BUF_INIT;
    char rid[17];
    ct_random_hex(rid, 16);
    ct_buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>");
    ct_xml_escape(&b, code);
    ct_buf_puts(&b, "</Code><Message>");
    ct_xml_escape(&b, message);
    ct_buf_puts(&b, "</Message>");
    if (key) {
        ct_buf_puts(&b, "<Key>");
        ct_xml_escape(&b, key);
        ct_buf_puts(&b, "</Key>");
    }
    ct_buf_printf(&b, "<RequestId>%s</RequestId></Error>\n", rid);
    if (!b.data)
        return MHD_NO;
    size_t len = b.len;
    char *data = ct_buf_take(&b);
    struct MHD_Response *mr = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!mr) {
        free(data);
        return MHD_NO;
    }
    edge_common_headers(mr, "Error from cattube");
    MHD_add_response_header(mr, "Content-Type", "application/xml");
    MHD_add_response_header(mr, "Cache-Control", "no-store"); /* errors are never cached */
    MHD_add_response_header(mr, "x-amz-request-id", rid);
    edge_cors_headers(mr, c, 0); /* a player must see a 403 as a 403, not a network error */
    return edge_queue(r, c, status, mr, len);
}

struct MHD_Response *edge_empty_response(void)
{
    return MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
}

const char *edge_hdr(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

int edge_send_redirect(edge_req *r, struct MHD_Connection *c, const char *host,
                                     int is_v6, const char *path_and_query)
{
    ct_edge *e = r->l->e;
    ct_buf loc = CT_BUF_INIT;
    ct_buf_printf(&loc, "https://%s%s%s", is_v6 ? "[" : "", host, is_v6 ? "]" : "");
    if (e->https.port != 443)
        ct_buf_printf(&loc, ":%u", (unsigned)e->https.port);
    ct_buf_puts(&loc, path_and_query);
    struct MHD_Response *mr = loc.data ? edge_empty_response() : NULL;
    if (!mr || MHD_add_response_header(mr, "Location", loc.data) != MHD_YES) {
        if (mr)
            MHD_destroy_response(mr);
        ct_buf_free(&loc);
        return MHD_NO;
    }
    ct_buf_free(&loc);
    edge_common_headers(mr, "Redirect from cattube");
    return edge_queue(r, c, 301, mr, 0);
}

/* GET /metrics on the plain listener (Prometheus text format), before routing. */
int edge_send_metrics(edge_req *r, struct MHD_Connection *c)
{
    size_t len = 0;
    char *text = edge_metrics_render(r->l->e, &len);
    struct MHD_Response *mr =
        text ? MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE) : NULL;
    if (!mr) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(mr, "Content-Type", "text/plain; version=0.0.4");
    MHD_add_response_header(mr, "Cache-Control", "no-store");
    return edge_queue(r, c, 200, mr, len);
}
