/* edge_cloudfront.c: the CloudFront REST/XML API subset under /2020-05-31/:
 * distributions here, invalidations in edge_cf_inval.c, origin access
 * controls in edge_cf_oac.c, on the shared distribution store of
 * edge_admin.c. XML in (core/xml.h, bounded) is mapped to the stored JSON
 * form (edge_cf_config.c); XML out is rendered from it, so the admin JSON API
 * and this API see the same distributions. Requests arrive authenticated and
 * authorized. */
#include "edge/edge_cf.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CF_LIST_MAX 100

static int alias_taken(ct_edge *e, const json_t *fields, const char *self, cf_fail *f)
{
    void *v = NULL;
    if (edge_dist_list_all(e, &v))
        return cf_failf(f, 500, "InternalError", "Cannot list distributions");
    json_t *all = v, *d, *a, *b;
    size_t i, k, m;
    int rc = 0;
    json_array_foreach(all, i, d)
    {
        if (self && !strcmp(cf_js(d, "id"), self))
            continue;
        json_array_foreach(json_object_get(fields, "aliases"), k, a)
            json_array_foreach(json_object_get(d, "aliases"), m, b) if (json_equal(a, b))
                rc = cf_failf(f, 409, "CNAMEAlreadyExists",
                          "One or more of the CNAMEs you provided are already associated "
                          "with a different resource.");
    }
    json_decref(all);
    return rc;
}

/* An existing distribution with this CallerReference: 1 (*out set) when its config is the
 * same, -1 (fail) when it differs, 0 when none. */
static int same_caller(ct_edge *e, const json_t *fields, json_t **out, cf_fail *f)
{
    void *v = NULL;
    if (edge_dist_list_all(e, &v))
        return cf_failf(f, 500, "InternalError", "Cannot list distributions");
    json_t *all = v, *d, *val;
    size_t i;
    const char *k;
    int rc = 0;
    json_array_foreach(all, i, d)
    {
        if (strcmp(cf_js(d, "callerReference"), cf_js(fields, "callerReference")))
            continue;
        rc = 1;
        json_object_foreach((json_t *)fields, k, val) if (!json_equal(val, json_object_get(d, k)))
            rc = cf_failf(f, 409, "DistributionAlreadyExists",
                      "The caller reference that you are using to create a distribution is "
                      "associated with another distribution. Already exists: %s",
                      cf_js(d, "id"));
        if (rc == 1)
            *out = json_incref(d);
        break;
    }
    json_decref(all);
    return rc;
}

static void reply_dist(ct_http_resp *resp, int status, const json_t *d, int config_only)
{
    ct_buf b = CT_BUF_INIT;
    if (config_only) {
        cf_x_config(&b, d, "DistributionConfig");
        /* namespace on the root element */
        ct_buf nb = CT_BUF_INIT;
        ct_buf_puts(&nb, "<DistributionConfig xmlns=\"" CF_NS "\">");
        ct_buf_append(&nb, b.data + strlen("<DistributionConfig>"),
                      b.len - strlen("<DistributionConfig>"));
        ct_buf_free(&b);
        b = nb;
    } else {
        cf_x_distribution(&b, d, 1);
    }
    cf_reply_xml(resp, status, &b, cf_js(d, "etag"));
    ct_buf_free(&b);
}

static int do_create(ct_edge *e, const ct_http_req *req, ct_http_resp *resp, cf_fail *f)
{
    ct_xml_node *root = NULL;
    json_t *fields = json_object(), *existing = NULL;
    int rc = -1, same;
    if (cf_parse_body(req, &root, f) || cf_parse_config(e, root, fields, f) ||
        (same = same_caller(e, fields, &existing, f)) < 0)
        goto cleanup;
    if (same == 0) {
        if (alias_taken(e, fields, NULL, f))
            goto cleanup;
        ct_err err = edge_dist_create(e, fields);
        if (err) {
            cf_failf(f, 500, "InternalError", "Cannot store the distribution: %s", ct_err_str(err));
            goto cleanup;
        }
        existing = json_incref(fields);
        ct_info("edge: CloudFront API created distribution %s for bucket %s", cf_js(fields, "id"),
                cf_js(fields, "originBucket"));
    }
    edge_dist_wire(e, existing);
    char loc[160];
    snprintf(loc, sizeof loc, "https://cloudfront.amazonaws.com/2020-05-31/distribution/%s",
             cf_js(existing, "id"));
    ct_http_resp_header(resp, "Location", loc);
    reply_dist(resp, 201, existing, 0);
    rc = 0;
cleanup:
    json_decref(existing);
    json_decref(fields);
    ct_xml_free(root);
    return rc;
}

static int do_update(ct_edge *e, const char *id, const ct_http_req *req, ct_http_resp *resp,
                     cf_fail *f)
{
    ct_xml_node *root = NULL;
    json_t *fields = json_object(), *d = NULL;
    int rc = -1;
    if (cf_load(e, id, &d, f) || cf_parse_body(req, &root, f) || cf_if_match(req, d, f) ||
        cf_parse_config(e, root, fields, f) || alias_taken(e, fields, id, f))
        goto cleanup;
    const char *old_ref = cf_js(d, "callerReference");
    if (*old_ref && strcmp(old_ref, cf_js(fields, "callerReference"))) {
        cf_failf(f, 400, "IllegalUpdate", "The CallerReference of a distribution cannot change.");
        goto cleanup;
    }
    json_object_update(d, fields);
    json_object_del(d, "domainName");
    json_object_del(d, "url");
    ct_err err = edge_dist_save(e, id, d);
    if (err) {
        cf_failf(f, 500, "InternalError", "Cannot store the distribution: %s", ct_err_str(err));
        goto cleanup;
    }
    edge_dist_wire(e, d);
    ct_info("edge: CloudFront API updated distribution %s", id);
    reply_dist(resp, 200, d, 0);
    rc = 0;
cleanup:
    json_decref(d);
    json_decref(fields);
    ct_xml_free(root);
    return rc;
}

static int do_delete(ct_edge *e, const char *id, const ct_http_req *req, ct_http_resp *resp,
                     cf_fail *f)
{
    json_t *d = NULL;
    int rc = -1;
    if (cf_load(e, id, &d, f) || cf_if_match(req, d, f))
        goto cleanup;
    if (!json_is_false(json_object_get(d, "enabled"))) {
        cf_failf(f, 409, "DistributionNotDisabled", "The distribution you are trying to delete "
                                                "has not been disabled.");
        goto cleanup;
    }
    ct_err err = edge_dist_remove(e, id);
    if (err) {
        cf_failf(f, 500, "InternalError", "Cannot delete the distribution: %s", ct_err_str(err));
        goto cleanup;
    }
    ct_info("edge: CloudFront API deleted distribution %s", id);
    resp->status = 204;
    rc = 0;
cleanup:
    json_decref(d);
    return rc;
}

static int do_list(ct_edge *e, const ct_http_req *req, ct_http_resp *resp, cf_fail *f)
{
    void *v = NULL;
    if (edge_dist_list_all(e, &v))
        return cf_failf(f, 500, "InternalError", "Cannot list distributions");
    char *marker = ct_http_query(req, "Marker");
    cf_reply_page(resp, "DistributionList", v, marker, CF_LIST_MAX, cf_x_summary);
    free(marker);
    json_decref(v);
    return 0;
}

/* rest: what follows "/2020-05-31/distribution". */
static void route(ct_edge *e, const char *rest, const ct_http_req *req, ct_http_resp *resp,
                  cf_fail *f)
{
    const char *m = req->method;
    char id[32] = "", sub[32] = "", iid[32] = "";
    if (!*rest || !strcmp(rest, "/")) {
        if (!strcmp(m, "POST"))
            do_create(e, req, resp, f);
        else if (!strcmp(m, "GET"))
            do_list(e, req, resp, f);
        else
            cf_failf(f, 405, "MethodNotAllowed", "Method %s is not allowed here", m);
        return;
    }
    int n = 0;
    if (rest[0] != '/' || sscanf(rest, "/%31[A-Za-z0-9]%n", id, &n) != 1 ||
        (rest[n] && sscanf(rest + n, "/%31[a-z]%n", sub, &n) != 1)) {
        cf_failf(f, 404, "NoSuchDistribution", "The specified distribution does not exist.");
        return;
    }
    const char *tail = rest + strlen(id) + 1 + (sub[0] ? strlen(sub) + 1 : 0);
    if (*tail && (strcmp(sub, "invalidation") || sscanf(tail, "/%31[A-Za-z0-9]", iid) != 1 ||
                  strlen(tail) != strlen(iid) + 1)) {
        cf_failf(f, 404, "NotImplemented", "Unknown CloudFront resource");
        return;
    }
    if (!sub[0] && !strcmp(m, "GET")) {
        json_t *d = NULL;
        if (!cf_load(e, id, &d, f))
            reply_dist(resp, 200, d, 0);
        json_decref(d);
    } else if (!sub[0] && !strcmp(m, "DELETE")) {
        do_delete(e, id, req, resp, f);
    } else if (!strcmp(sub, "config") && !strcmp(m, "GET")) {
        json_t *d = NULL;
        if (!cf_load(e, id, &d, f))
            reply_dist(resp, 200, d, 1);
        json_decref(d);
    } else if (!strcmp(sub, "config") && !strcmp(m, "PUT")) {
        do_update(e, id, req, resp, f);
    } else if (!strcmp(sub, "invalidation") && !iid[0] && !strcmp(m, "POST")) {
        cf_do_invalidate(e, id, req, resp, f);
    } else if (!strcmp(sub, "invalidation") && !strcmp(m, "GET")) {
        cf_do_invalidations(e, id, iid[0] ? iid : NULL, resp, f);
    } else {
        cf_failf(f, 405, "MethodNotAllowed", "Method %s is not allowed here", m);
    }
}

void ct_edge_cloudfront_handle(ct_edge *e, const ct_http_req *req, ct_http_resp *resp)
{
    cf_fail f = {0};
    const char *path = req->path ? req->path : "";
    if (req->auth_err != CT_OK || req->principal.anonymous)
        cf_failf(&f, 403, "AccessDenied", "%s", req->auth_msg[0] ? req->auth_msg : "Access denied");
    else if (!e)
        cf_failf(&f, 503, "ServiceUnavailable", "The edge is not running");
    else if (!strncmp(path, CF_PREFIX "distribution", strlen(CF_PREFIX "distribution")))
        route(e, path + strlen(CF_PREFIX "distribution"), req, resp, &f);
    else if (!strncmp(path, CF_PREFIX "origin-access-control",
                      strlen(CF_PREFIX "origin-access-control")))
        cf_oac_route(e, path + strlen(CF_PREFIX "origin-access-control"), req, resp, &f);
    else if (!strncmp(path, CF_PREFIX "public-key", strlen(CF_PREFIX "public-key")))
        cf_keys_route(e, 0, path + strlen(CF_PREFIX "public-key"), req, resp, &f);
    else if (!strncmp(path, CF_PREFIX "key-group", strlen(CF_PREFIX "key-group")))
        cf_keys_route(e, 1, path + strlen(CF_PREFIX "key-group"), req, resp, &f);
    else
        cf_failf(&f, 404, "NotImplemented", "This CloudFront API is not supported by CatTube");
    if (f.status)
        cf_reply_error(req, resp, &f);
}
/* ---- IAM actions ---- */

typedef struct {
    const char *coll;   /* path segment after /2020-05-31/ */
    int shape;          /* segments - 1: 0 coll, 1 coll/ID, 2 coll/ID/sub, 3 coll/ID/sub/ID2 */
    const char *sub;    /* for shapes 2 and 3 */
    const char *method;
    const char *op;
} cf_op;

static const cf_op cf_ops[] = {
    {"distribution", 0, "", "POST", "CreateDistribution"},
    {"distribution", 0, "", "GET", "ListDistributions"},
    {"distribution", 1, "", "GET", "GetDistribution"},
    {"distribution", 1, "", "DELETE", "DeleteDistribution"},
    {"distribution", 2, "config", "GET", "GetDistributionConfig"},
    {"distribution", 2, "config", "PUT", "UpdateDistribution"},
    {"distribution", 2, "invalidation", "POST", "CreateInvalidation"},
    {"distribution", 2, "invalidation", "GET", "ListInvalidations"},
    {"distribution", 3, "invalidation", "GET", "GetInvalidation"},
    {"origin-access-control", 0, "", "POST", "CreateOriginAccessControl"},
    {"origin-access-control", 0, "", "GET", "ListOriginAccessControls"},
    {"origin-access-control", 1, "", "GET", "GetOriginAccessControl"},
    {"origin-access-control", 1, "", "DELETE", "DeleteOriginAccessControl"},
    {"origin-access-control", 2, "config", "GET", "GetOriginAccessControlConfig"},
    {"origin-access-control", 2, "config", "PUT", "UpdateOriginAccessControl"},
    {"public-key", 0, "", "POST", "CreatePublicKey"},
    {"public-key", 0, "", "GET", "ListPublicKeys"},
    {"public-key", 1, "", "GET", "GetPublicKey"},
    {"public-key", 1, "", "DELETE", "DeletePublicKey"},
    {"public-key", 2, "config", "GET", "GetPublicKeyConfig"},
    {"public-key", 2, "config", "PUT", "UpdatePublicKey"},
    {"key-group", 0, "", "POST", "CreateKeyGroup"},
    {"key-group", 0, "", "GET", "ListKeyGroups"},
    {"key-group", 1, "", "GET", "GetKeyGroup"},
    {"key-group", 1, "", "PUT", "UpdateKeyGroup"},
    {"key-group", 1, "", "DELETE", "DeleteKeyGroup"},
    {"key-group", 2, "config", "GET", "GetKeyGroupConfig"},
};

int ct_edge_cloudfront_action(const char *account, const char *method, const char *path,
                              char action[64], char resource[256])
{
    char seg[4][64] = {{0}};
    int n = 0;
    snprintf(action, 64, "cloudfront:*");
    snprintf(resource, 256, "*");
    if (strncmp(path, CF_PREFIX, strlen(CF_PREFIX)) != 0)
        return 0;
    for (const char *p = path + strlen(CF_PREFIX); *p; n++) {
        size_t len = strcspn(p, "/");
        if (n == 4 || len == 0 || len >= sizeof seg[0])
            return 0;
        memcpy(seg[n], p, len);
        p += len + (p[len] == '/');
    }
    for (size_t i = 0; i < sizeof cf_ops / sizeof cf_ops[0]; i++) {
        const cf_op *o = &cf_ops[i];
        if (n != o->shape + 1 || strcmp(seg[0], o->coll) || strcmp(method, o->method) ||
            (o->shape >= 2 && strcmp(seg[2], o->sub)))
            continue;
        snprintf(action, 64, "cloudfront:%s", o->op);
        if (o->shape >= 1 && (!strcmp(o->coll, "distribution") ||
                              !strcmp(o->coll, "origin-access-control")))
            snprintf(resource, 256, "arn:aws:cloudfront::%s:%s/%s", account, o->coll, seg[1]);
        return 1;
    }
    return 0;
}
