/* edge_respond.c: the response helpers every edge answer goes through
 * (common and CORS headers, S3-shaped XML errors, redirects, /metrics) and
 * the per-request accessors (client address, request headers). */
#include "edge/edge_internal.h"

#include <ctype.h>

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>


/* ---- responses ---- */

void edge_common_headers(edge_resp *mr, const char *x_cache)
{
    edge_resp_header(mr, "Server", "CatTube");
    edge_resp_header(mr, "X-Cache", x_cache);
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

void edge_cors_headers(edge_resp *mr, edge_conn *c, int vary_encoding)
{
    /* Any origin may read without credentials ('*': hls.js / dash.js players
     * anywhere). A player page on the distribution's own site also gets its
     * Origin echoed with credentials, so signed cookies work for private
     * videos; other sites never see credentialed answers. */
    const char *origin = c ? edge_hdr(c, "Origin") : NULL;
    const char *host = c ? edge_hdr(c, "Host") : NULL;
    if (origin && host && strlen(origin) < 256 && same_site(origin, host)) {
        edge_resp_header(mr, "Access-Control-Allow-Origin", origin);
        edge_resp_header(mr, "Access-Control-Allow-Credentials", "true");
    } else {
        edge_resp_header(mr, "Access-Control-Allow-Origin", "*");
    }
    edge_resp_header(mr, "Vary", vary_encoding ? "Accept-Encoding, Origin" : "Origin");
    edge_resp_header(mr, "Access-Control-Expose-Headers",
                            "Content-Length, Content-Range, Accept-Ranges, ETag, Last-Modified");
}

int edge_queue(edge_req *r, edge_conn *c, int status,
                             edge_resp *mr, uint64_t bytes)
{
    if (!mr)
        return 0;
    r->status = status;
    r->bytes = bytes;
    edge_log_note(&r->lg, mr, status);
    return edge_conn_queue(c, status, mr);
}

int edge_send_error(edge_req *r, edge_conn *c, int status,
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
        return 0;
    size_t len = b.len;
    edge_resp *mr = edge_resp_take(len, ct_buf_take(&b));
    if (!mr)
        return 0;
    edge_common_headers(mr, "Error from cattube");
    edge_resp_header(mr, "Content-Type", "application/xml");
    edge_resp_header(mr, "Cache-Control", "no-store"); /* errors are never cached */
    edge_resp_header(mr, "x-amz-request-id", rid);
    if (status == 503)
        edge_resp_header(mr, "Retry-After", "1");
    edge_cors_headers(mr, c, 0); /* a player must see a 403 as a 403, not a network error */
    return edge_queue(r, c, status, mr, len);
}

edge_resp *edge_empty_response(void) { return edge_resp_empty(); }

int edge_send_redirect(edge_req *r, edge_conn *c, const char *host,
                                     int is_v6, const char *path_and_query)
{
    ct_edge *e = r->l->e;
    ct_buf loc = CT_BUF_INIT;
    ct_buf_printf(&loc, "https://%s%s%s", is_v6 ? "[" : "", host, is_v6 ? "]" : "");
    if (e->https.port != 443)
        ct_buf_printf(&loc, ":%u", (unsigned)e->https.port);
    ct_buf_puts(&loc, path_and_query);
    edge_resp *mr = loc.data ? edge_empty_response() : NULL;
    if (!mr || edge_resp_header(mr, "Location", loc.data)) {
        edge_resp_free(mr);
        ct_buf_free(&loc);
        return 0;
    }
    ct_buf_free(&loc);
    edge_common_headers(mr, "Redirect from cattube");
    return edge_queue(r, c, 301, mr, 0);
}

/* GET /metrics on the plain listener (Prometheus text format), before routing. */
int edge_send_metrics(edge_req *r, edge_conn *c)
{
    size_t len = 0;
    char *text = edge_metrics_render(r->l->e, &len);
    edge_resp *mr = text ? edge_resp_take(len, text) : NULL;
    if (!mr)
        return 0;
    edge_resp_header(mr, "Content-Type", "text/plain; version=0.0.4");
    edge_resp_header(mr, "Cache-Control", "no-store");
    return edge_queue(r, c, 200, mr, len);
}
