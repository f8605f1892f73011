/* edge_admin.c: distributions — the in-memory routing table and the admin API
 * (/cattube/admin/distributions[/ID] on the API port, after SigV4).
 *
 * A distribution is stored in meta as its wire JSON; domainName and url are
 * derived on output from the current public host and HTTPS port, so a
 * restart on another port keeps the printed URLs right. The routing table is
 * reloaded from meta after every change made here. */
#include "edge/edge_internal.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADMIN_PREFIX "/cattube/admin/distributions"

/* ---- routing table ---- */

typedef struct {
    edge_dist *v;
    size_t n, cap;
} dist_vec;

static int dist_from_json(json_t *j, edge_dist *d)
{
    memset(d, 0, sizeof *d);
    const char *id = json_string_value(json_object_get(j, "id"));
    const char *bucket = json_string_value(json_object_get(j, "originBucket"));
    const char *vpp = json_string_value(json_object_get(j, "viewerProtocolPolicy"));
    json_t *en = json_object_get(j, "enabled");
    if (!edge_dist_id_valid(id) || !bucket || strlen(bucket) >= sizeof d->origin_bucket)
        return -1;
    memcpy(d->id, id, EDGE_ID_LEN + 1);
    strcpy(d->origin_bucket, bucket);
    if (edge_vpp_parse(vpp, &d->policy))
        d->policy = EDGE_VPP_REDIRECT;
    d->enabled = en ? json_is_true(en) : 1;
    return 0;
}

static ct_err collect_dist(void *ctx, const char *json)
{
    dist_vec *v = ctx;
    json_t *j = json_loads(json, 0, NULL);
    edge_dist d;
    int bad = !j || dist_from_json(j, &d);
    json_decref(j);
    if (bad) {
        ct_warn("edge: skipping a malformed stored distribution");
        return CT_OK;
    }
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        edge_dist *nv = realloc(v->v, cap * sizeof *nv);
        if (!nv)
            return CT_ERR_NOMEM;
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = d;
    return CT_OK;
}

ct_err edge_dists_reload(ct_edge *e)
{
    dist_vec v = {0};
    ct_err err = ct_meta_distribution_list(e->meta, collect_dist, &v);
    if (err) {
        free(v.v);
        return err;
    }
    pthread_rwlock_wrlock(&e->lock);
    edge_dist *old = e->dists;
    e->dists = v.v;
    e->n_dists = v.n;
    pthread_rwlock_unlock(&e->lock);
    free(old);
    return CT_OK;
}

int edge_route(ct_edge *e, const char *host_name, edge_dist *out)
{
    char id[EDGE_ID_LEN + 1];
    int named = host_name && *host_name && edge_host_dist_label(host_name, id);
    int rc = -1;
    pthread_rwlock_rdlock(&e->lock);
    for (size_t i = e->n_dists; i-- > 0;) {
        const edge_dist *d = &e->dists[i];
        if (named ? strcmp(d->id, id) == 0 : d->enabled) {
            *out = *d;
            rc = 0;
            break;
        }
    }
    pthread_rwlock_unlock(&e->lock);
    return rc;
}

/* ---- wire form ---- */

static void add_wire_fields(ct_edge *e, json_t *j)
{
    const char *id = json_string_value(json_object_get(j, "id"));
    if (!id)
        return;
    char lower[EDGE_ID_LEN + 1], domain[EDGE_HOST_MAX + EDGE_ID_LEN + 2], url[sizeof domain + 16];
    size_t i = 0;
    for (; id[i] && i < EDGE_ID_LEN; i++)
        lower[i] = (char)(id[i] >= 'A' && id[i] <= 'Z' ? id[i] - 'A' + 'a' : id[i]);
    lower[i] = '\0';
    snprintf(domain, sizeof domain, "%s.%s", lower, e->suffix);
    if (e->https.port == 443)
        snprintf(url, sizeof url, "https://%s", domain);
    else
        snprintf(url, sizeof url, "https://%s:%u", domain, (unsigned)e->https.port);
    json_object_set_new(j, "domainName", json_string(domain));
    json_object_set_new(j, "url", json_string(url));
}

static void reply_json(ct_http_resp *resp, int status, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text) {
        ct_http_resp_json(resp, 500, strdup("{\"message\":\"out of memory\"}"));
        return;
    }
    ct_http_resp_json(resp, status, text);
}

static void reply_error(ct_http_resp *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reply_error(ct_http_resp *resp, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    reply_json(resp, status, json_pack("{s:s}", "message", msg));
}

/* ---- handlers ---- */

static void do_create(ct_edge *e, const ct_http_req *req, ct_http_resp *resp)
{
    json_error_t jerr;
    json_t *in = json_loadb(req->body ? req->body : "", req->body_len, 0, &jerr);
    if (!json_is_object(in)) {
        json_decref(in);
        reply_error(resp, 400, "The request body must be a JSON object");
        return;
    }
    json_t *jb = json_object_get(in, "originBucket");
    json_t *jp = json_object_get(in, "viewerProtocolPolicy");
    json_t *jc = json_object_get(in, "comment");
    json_t *je = json_object_get(in, "enabled");
    const char *bucket = json_string_value(jb);
    edge_vpp policy = EDGE_VPP_REDIRECT;
    if (!bucket || !*bucket) {
        reply_error(resp, 400, "originBucket is required");
        goto done;
    }
    if (strlen(bucket) > 63) {
        reply_error(resp, 400, "originBucket is not a valid bucket name");
        goto done;
    }
    if (jp && edge_vpp_parse(json_string_value(jp), &policy)) {
        reply_error(resp, 400,
                    "viewerProtocolPolicy must be one of redirect-to-https, https-only, "
                    "allow-all");
        goto done;
    }
    if (jc && (!json_is_string(jc) || json_string_length(jc) > 128)) {
        reply_error(resp, 400, "comment must be a string of at most 128 characters");
        goto done;
    }
    if (je && !json_is_boolean(je)) {
        reply_error(resp, 400, "enabled must be a boolean");
        goto done;
    }
    ct_meta_bucket b;
    memset(&b, 0, sizeof b);
    ct_err err = ct_meta_bucket_get(e->meta, bucket, &b);
    if (err == CT_ERR_NOT_FOUND) {
        reply_error(resp, 404, "The origin bucket %s does not exist", bucket);
        goto done;
    }
    if (err) {
        reply_error(resp, 500, "Cannot read the origin bucket: %s", ct_err_str(err));
        goto done;
    }
    ct_meta_bucket_free(&b);

    const char *account = e->account_id;
    char created[32];
    ct_time_iso8601(ct_now_ms(), created);
    json_t *d = NULL;
    char id[EDGE_ID_LEN + 1];
    for (int attempt = 0; attempt < 5; attempt++) {
        id[0] = 'E';
        ct_random_alnum(id + 1, EDGE_ID_LEN - 1, 1);
        char arn[128];
        snprintf(arn, sizeof arn, "arn:aws:cloudfront::%s:distribution/%s", account, id);
        json_decref(d);
        d = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s}", "id", id, "arn", arn,
                      "originBucket", bucket, "viewerProtocolPolicy", edge_vpp_name(policy),
                      "status", "Deployed", "enabled", je ? json_is_true(je) : 1, "createdAt",
                      created, "lastModifiedAt", created);
        if (!d) {
            reply_error(resp, 500, "out of memory");
            goto done;
        }
        if (jc)
            json_object_set(d, "comment", jc);
        add_wire_fields(e, d); /* domainName at creation, kept for the record */
        char *text = json_dumps(d, JSON_COMPACT);
        err = text ? ct_meta_distribution_put(e->meta, id, text, 1) : CT_ERR_NOMEM;
        free(text);
        if (err != CT_ERR_EXISTS)
            break;
    }
    if (err) {
        json_decref(d);
        reply_error(resp, 500, "Cannot store the distribution: %s", ct_err_str(err));
        goto done;
    }
    if ((err = edge_dists_reload(e)))
        ct_error("edge: reloading distributions: %s", ct_err_str(err));
    ct_info("edge: created distribution %s for bucket %s (%s)", id, bucket,
            edge_vpp_name(policy));
    char loc[64];
    snprintf(loc, sizeof loc, ADMIN_PREFIX "/%s", id);
    ct_http_resp_header(resp, "Location", loc);
    reply_json(resp, 201, d);
done:
    json_decref(in);
}

static json_t *load_wire(ct_edge *e, const char *json)
{
    json_t *j = json_loads(json, 0, NULL);
    if (j)
        add_wire_fields(e, j);
    return j;
}

static ct_err collect_wire(void *ctx, const char *json)
{
    json_t **pair = ctx; /* {edge (as opaque), array} */
    json_t *j = load_wire((ct_edge *)(void *)pair[0], json);
    if (j)
        json_array_append_new(pair[1], j);
    return CT_OK;
}

static void do_list(ct_edge *e, ct_http_resp *resp)
{
    json_t *arr = json_array();
    void *pair[2] = {e, arr};
    ct_err err = ct_meta_distribution_list(e->meta, collect_wire, pair);
    if (err) {
        json_decref(arr);
        reply_error(resp, 500, "Cannot list distributions: %s", ct_err_str(err));
        return;
    }
    reply_json(resp, 200, json_pack("{s:o}", "distributions", arr));
}

static void do_get(ct_edge *e, const char *id, ct_http_resp *resp)
{
    char *json = NULL;
    ct_err err = edge_dist_id_valid(id) ? ct_meta_distribution_get(e->meta, id, &json)
                                        : CT_ERR_NOT_FOUND;
    if (err == CT_ERR_NOT_FOUND) {
        reply_error(resp, 404, "The distribution %.32s does not exist", id);
        return;
    }
    if (err) {
        reply_error(resp, 500, "Cannot read the distribution: %s", ct_err_str(err));
        return;
    }
    json_t *j = load_wire(e, json);
    free(json);
    if (!j) {
        reply_error(resp, 500, "The stored distribution is malformed");
        return;
    }
    reply_json(resp, 200, j);
}

static void do_delete(ct_edge *e, const char *id, ct_http_resp *resp)
{
    ct_err err = edge_dist_id_valid(id) ? ct_meta_distribution_delete(e->meta, id)
                                        : CT_ERR_NOT_FOUND;
    if (err == CT_ERR_NOT_FOUND) {
        reply_error(resp, 404, "The distribution %.32s does not exist", id);
        return;
    }
    if (err) {
        reply_error(resp, 500, "Cannot delete the distribution: %s", ct_err_str(err));
        return;
    }
    if ((err = edge_dists_reload(e)))
        ct_error("edge: reloading distributions: %s", ct_err_str(err));
    ct_info("edge: deleted distribution %s", id);
    resp->status = 204;
}

void ct_edge_admin_handle(ct_edge *e, const ct_http_req *req, ct_http_resp *resp)
{
    if (req->auth_err != CT_OK || req->principal.anonymous) {
        reply_error(resp, 403, "%s",
                    req->auth_err != CT_OK && req->auth_msg[0]
                        ? req->auth_msg
                        : "The admin API requires a SigV4-signed request");
        return;
    }
    if (!e) {
        reply_error(resp, 503, "The edge is not running");
        return;
    }
    const char *path = req->path ? req->path : "";
    size_t plen = strlen(ADMIN_PREFIX);
    if (strncmp(path, ADMIN_PREFIX, plen) != 0 || (path[plen] && path[plen] != '/')) {
        reply_error(resp, 404, "Unknown admin resource");
        return;
    }
    const char *rest = path + plen;
    if (*rest == '/')
        rest++;
    char id[64];
    size_t idlen = strcspn(rest, "/");
    if (idlen >= sizeof id || (rest[idlen] == '/' && rest[idlen + 1])) {
        reply_error(resp, 404, "Unknown admin resource");
        return;
    }
    memcpy(id, rest, idlen);
    id[idlen] = '\0';
    const char *m = req->method;
    if (!*id) {
        if (strcmp(m, "GET") == 0)
            do_list(e, resp);
        else if (strcmp(m, "POST") == 0)
            do_create(e, req, resp);
        else {
            reply_error(resp, 405, "Method %s not allowed here", m);
            ct_http_resp_header(resp, "Allow", "GET, POST");
        }
        return;
    }
    if (strcmp(m, "GET") == 0)
        do_get(e, id, resp);
    else if (strcmp(m, "DELETE") == 0)
        do_delete(e, id, resp);
    else {
        reply_error(resp, 405, "Method %s not allowed here", m);
        ct_http_resp_header(resp, "Allow", "GET, DELETE");
    }
}
