/* edge_admin.c: the admin JSON API for distributions
 * (/cattube/admin/distributions[/ID] on the API port, after SigV4), on the
 * shared store of edge_dists.c, and the JSON reply helpers the admin files
 * share. */
#include "edge/edge_internal.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADMIN_PREFIX "/cattube/admin/distributions"

void edge_reply_json(ct_http_resp *resp, int status, void *json)
{
    json_t *j = json;
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text) {
        ct_http_resp_json(resp, 500, strdup("{\"message\":\"out of memory\"}"));
        return;
    }
    ct_http_resp_json(resp, status, text);
}

void edge_reply_error(ct_http_resp *resp, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    edge_reply_json(resp, status, json_pack("{s:s}", "message", msg));
}
/* ---- handlers ---- */

/* trustedKeyGroups: an array of up to EDGE_DIST_GROUPS_MAX existing, distinct key group ids. */
static int check_groups(ct_edge *e, json_t *jg, ct_http_resp *resp)
{
    size_t i, n = json_array_size(jg);
    json_t *g;
    if (!json_is_array(jg) || n > EDGE_DIST_GROUPS_MAX) {
        edge_reply_error(resp, 400, "trustedKeyGroups must be an array of at most %d key group ids",
                         EDGE_DIST_GROUPS_MAX);
        return -1;
    }
    json_array_foreach(jg, i, g)
    {
        const char *id = json_string_value(g);
        if (!id || strlen(id) != EDGE_GROUP_ID_LEN || !edge_key_group_exists(e, id)) {
            edge_reply_error(resp, 400, "The key group %.40s does not exist",
                             id ? id : "(not a string)");
            return -1;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(id, json_string_value(json_array_get(jg, k))) == 0) {
                edge_reply_error(resp, 400, "The key group %s is listed twice", id);
                return -1;
            }
    }
    return 0;
}

/* Fields a create or an update may set, other than originBucket. */
static int check_mutable(ct_edge *e, json_t *in, ct_http_resp *resp)
{
    json_t *jp = json_object_get(in, "viewerProtocolPolicy");
    json_t *jc = json_object_get(in, "comment");
    json_t *je = json_object_get(in, "enabled");
    json_t *jg = json_object_get(in, "trustedKeyGroups");
    edge_vpp policy;
    if (jp && edge_vpp_parse(json_string_value(jp), &policy)) {
        edge_reply_error(resp, 400,
                         "viewerProtocolPolicy must be one of redirect-to-https, https-only, "
                         "allow-all");
        return -1;
    }
    if (jc && (!json_is_string(jc) || json_string_length(jc) > 128)) {
        edge_reply_error(resp, 400, "comment must be a string of at most 128 characters");
        return -1;
    }
    if (je && !json_is_boolean(je)) {
        edge_reply_error(resp, 400, "enabled must be a boolean");
        return -1;
    }
    static const char *const ttls[] = {"defaultTTL", "minTTL", "maxTTL"};
    for (size_t i = 0; i < CT_ARRAY_LEN(ttls); i++) {
        json_t *t = json_object_get(in, ttls[i]);
        if (t && (!json_is_integer(t) || json_integer_value(t) < 0 ||
                  json_integer_value(t) > EDGE_MAX_TTL * 10ll)) {
            edge_reply_error(resp, 400, "%s must be a number of seconds", ttls[i]);
            return -1;
        }
    }
    return jg ? check_groups(e, jg, resp) : 0;
}

/* The seed's step 5 after "Create distribution": the console's copy-policy
 * statement appended to the origin bucket's policy. On failure the new
 * distribution is removed again (d is consumed) and -1 answered. */
static int grant(ct_edge *e, const char *bucket, json_t *d, ct_http_resp *resp)
{
    const char *id = json_string_value(json_object_get(d, "id"));
    char msg[256] = "";
    ct_err err = edge_oac_grant(e, bucket, id, msg, sizeof msg);
    if (!err) {
        json_object_set_new(d, "bucketPolicyStatement", edge_oac_statement(e, bucket, id));
        return 0;
    }
    edge_dist_remove(e, id);
    edge_reply_error(resp, err == CT_ERR_INVALID || err == CT_ERR_TOO_LARGE ? 400 : 500,
                     "Cannot add the origin access statement to the policy of %s: %s", bucket,
                     msg[0] ? msg : ct_err_str(err));
    json_decref(d);
    return -1;
}

static void do_create(ct_edge *e, const ct_http_req *req, ct_http_resp *resp)
{
    json_error_t jerr;
    json_t *in = json_loadb(req->body ? req->body : "", req->body_len, 0, &jerr);
    if (!json_is_object(in)) {
        json_decref(in);
        edge_reply_error(resp, 400, "The request body must be a JSON object");
        return;
    }
    json_t *jb = json_object_get(in, "originBucket");
    json_t *jp = json_object_get(in, "viewerProtocolPolicy");
    json_t *jc = json_object_get(in, "comment");
    json_t *je = json_object_get(in, "enabled");
    const char *bucket = json_string_value(jb);
    edge_vpp policy = EDGE_VPP_REDIRECT;
    if (!bucket || !*bucket) {
        edge_reply_error(resp, 400, "originBucket is required");
        goto done;
    }
    if (strlen(bucket) > 63) {
        edge_reply_error(resp, 400, "originBucket is not a valid bucket name");
        goto done;
    }
    if (check_mutable(e, in, resp))
        goto done;
    if (jp)
        edge_vpp_parse(json_string_value(jp), &policy);
    ct_meta_bucket b;
    memset(&b, 0, sizeof b);
    ct_err err = ct_meta_bucket_get(e->meta, bucket, &b);
    if (err == CT_ERR_NOT_FOUND) {
        edge_reply_error(resp, 404, "The origin bucket %s does not exist", bucket);
        goto done;
    }
    if (err) {
        edge_reply_error(resp, 500, "Cannot read the origin bucket: %s", ct_err_str(err));
        goto done;
    }
    ct_meta_bucket_free(&b);

    json_t *d = json_pack("{s:s, s:s, s:b}", "originBucket", bucket, "viewerProtocolPolicy",
                          edge_vpp_name(policy), "enabled", je ? json_is_true(je) : 1);
    if (!d) {
        edge_reply_error(resp, 500, "out of memory");
        goto done;
    }
    if (jc)
        json_object_set(d, "comment", jc);
    json_t *jg = json_object_get(in, "trustedKeyGroups");
    json_object_set_new(d, "trustedKeyGroups", jg ? json_deep_copy(jg) : json_array());
    static const char *const ttls[] = {"defaultTTL", "minTTL", "maxTTL"};
    const json_int_t defs[] = {EDGE_DEFAULT_TTL, 0, EDGE_MAX_TTL};
    for (size_t i = 0; i < CT_ARRAY_LEN(ttls); i++) {
        json_t *t = json_object_get(in, ttls[i]);
        json_object_set_new(d, ttls[i], json_integer(t ? json_integer_value(t) : defs[i]));
    }
    json_t *jo = json_object_get(in, "originAccessControl");
    int with_oac = !jo || json_is_true(jo);
    char oac[EDGE_ID_LEN + 1] = "";
    if (with_oac && (err = edge_oac_for_bucket(e, bucket, oac))) {
        json_decref(d);
        edge_reply_error(resp, 500, "Cannot make the origin access control: %s",
                         ct_err_str(err));
        goto done;
    }
    json_object_set_new(d, "originAccessControlId", json_string(oac));
    if ((err = edge_dist_create(e, d))) {
        json_decref(d);
        edge_reply_error(resp, 500, "Cannot store the distribution: %s", ct_err_str(err));
        goto done;
    }
    const char *id = json_string_value(json_object_get(d, "id"));
    if (with_oac && grant(e, bucket, d, resp))
        goto done;
    ct_info("edge: created distribution %s for bucket %s (%s)", id, bucket,
            edge_vpp_name(policy));
    char loc[64];
    snprintf(loc, sizeof loc, ADMIN_PREFIX "/%s", id);
    ct_http_resp_header(resp, "Location", loc);
    edge_reply_json(resp, 201, d);
done:
    json_decref(in);
}
static void do_list(ct_edge *e, ct_http_resp *resp)
{
    void *av = NULL;
    ct_err err = edge_dist_list_all(e, &av);
    json_t *arr = av;
    if (err) {
        edge_reply_error(resp, 500, "Cannot list distributions: %s", ct_err_str(err));
        return;
    }
    edge_reply_json(resp, 200, json_pack("{s:o}", "distributions", arr));
}

static void do_get(ct_edge *e, const char *id, ct_http_resp *resp)
{
    char *json = NULL;
    ct_err err = edge_dist_id_valid(id) ? ct_meta_distribution_get(e->meta, id, &json)
                                        : CT_ERR_NOT_FOUND;
    if (err == CT_ERR_NOT_FOUND) {
        edge_reply_error(resp, 404, "The distribution %.32s does not exist", id);
        return;
    }
    if (err) {
        edge_reply_error(resp, 500, "Cannot read the distribution: %s", ct_err_str(err));
        return;
    }
    json_t *j = json_loads(json, 0, NULL);
    free(json);
    if (j)
        edge_dist_wire(e, j);
    if (!j) {
        edge_reply_error(resp, 500, "The stored distribution is malformed");
        return;
    }
    edge_reply_json(resp, 200, j);
}

/* PATCH (or PUT) /ID: viewerProtocolPolicy, comment, enabled, trustedKeyGroups. */
static void do_update(ct_edge *e, const char *id, const ct_http_req *req, ct_http_resp *resp)
{
    json_t *in = json_loadb(req->body ? req->body : "", req->body_len, 0, NULL);
    json_t *d = NULL;
    char *json = NULL, *text = NULL;
    if (!json_is_object(in)) {
        edge_reply_error(resp, 400, "The request body must be a JSON object");
        goto cleanup;
    }
    const char *k;
    json_t *v;
    json_object_foreach(in, k, v)
    {
        if (strcmp(k, "viewerProtocolPolicy") && strcmp(k, "comment") && strcmp(k, "enabled") &&
            strcmp(k, "trustedKeyGroups") && strcmp(k, "defaultTTL") && strcmp(k, "minTTL") &&
            strcmp(k, "maxTTL")) {
            edge_reply_error(resp, 400, "%.64s cannot be updated", k);
            goto cleanup;
        }
    }
    if (check_mutable(e, in, resp))
        goto cleanup;
    ct_err err = edge_dist_id_valid(id) ? ct_meta_distribution_get(e->meta, id, &json)
                                        : CT_ERR_NOT_FOUND;
    if (err == CT_ERR_NOT_FOUND) {
        edge_reply_error(resp, 404, "The distribution %.32s does not exist", id);
        goto cleanup;
    }
    if (err || !(d = json_loads(json, 0, NULL))) {
        edge_reply_error(resp, 500, "Cannot read the distribution: %s", ct_err_str(err));
        goto cleanup;
    }
    json_object_update(d, in);
    if ((err = edge_dist_save(e, id, d))) {
        edge_reply_error(resp, 500, "Cannot store the distribution: %s", ct_err_str(err));
        goto cleanup;
    }
    ct_info("edge: updated distribution %s", id);
    edge_dist_wire(e, d);
    edge_reply_json(resp, 200, d);
    d = NULL;
cleanup:
    free(json);
    free(text);
    json_decref(d);
    json_decref(in);
}

/* POST /ID/invalidations {"paths": [...]}: a path ending in a star is a prefix; drops cached rows
 * at once (the cache is in this process), so the answer is Completed. */
static void do_invalidate(ct_edge *e, const char *id, const ct_http_req *req,
                          ct_http_resp *resp)
{
    json_t *in = json_loadb(req->body ? req->body : "", req->body_len, 0, NULL);
    json_t *paths = json_object_get(in, "paths"), *p;
    size_t i, n = json_array_size(paths);
    char *probe = NULL;
    if (!edge_dist_id_valid(id) || ct_meta_distribution_get(e->meta, id, &probe) != CT_OK) {
        edge_reply_error(resp, 404, "The distribution %.32s does not exist", id);
        goto cleanup;
    }
    if (!json_is_array(paths) || n == 0 || n > 3000) {
        edge_reply_error(resp, 400, "paths must list 1 to 3000 paths");
        goto cleanup;
    }
    json_array_foreach(paths, i, p)
    {
        const char *s = json_string_value(p);
        if (!s || s[0] != '/' || strlen(s) > 4096) {
            edge_reply_error(resp, 400, "Each path must be a string starting with /");
            goto cleanup;
        }
    }
    void *inv = NULL; /* recorded, so standalone edges apply it too */
    ct_err err = edge_dist_record_invalidation(e, id, paths, "", &inv);
    if (err) {
        edge_reply_error(resp, 500, "Cannot store the invalidation: %s", ct_err_str(err));
        goto cleanup;
    }
    json_object_del(inv, "callerReference");
    json_object_set_new(inv, "status", json_string("Completed"));
    edge_reply_json(resp, 201, inv);
cleanup:
    free(probe);
    json_decref(in);
}

static void do_delete(ct_edge *e, const char *id, ct_http_resp *resp)
{
    ct_err err = edge_dist_remove(e, id);
    if (err == CT_ERR_NOT_FOUND) {
        edge_reply_error(resp, 404, "The distribution %.32s does not exist", id);
        return;
    }
    if (err) {
        edge_reply_error(resp, 500, "Cannot delete the distribution: %s", ct_err_str(err));
        return;
    }
    ct_info("edge: deleted distribution %s", id);
    resp->status = 204;
}

void ct_edge_admin_handle(ct_edge *e, const ct_http_req *req, ct_http_resp *resp)
{
    if (req->auth_err != CT_OK || req->principal.anonymous) {
        edge_reply_error(resp, 403, "%s",
                    req->auth_err != CT_OK && req->auth_msg[0]
                        ? req->auth_msg
                        : "The admin API requires a SigV4-signed request");
        return;
    }
    if (!e) {
        edge_reply_error(resp, 503, "The edge is not running");
        return;
    }
    const char *path = req->path ? req->path : "";
    if (strncmp(path, "/cattube/admin/public-keys", 26) == 0 &&
        (path[26] == '\0' || path[26] == '/')) {
        edge_keys_admin(e, req, resp, path);
        return;
    }
    if (strncmp(path, "/cattube/admin/key-groups", 25) == 0 &&
        (path[25] == '\0' || path[25] == '/')) {
        edge_keys_admin(e, req, resp, path);
        return;
    }
    size_t plen = strlen(ADMIN_PREFIX);
    if (strncmp(path, ADMIN_PREFIX, plen) != 0 || (path[plen] && path[plen] != '/')) {
        edge_reply_error(resp, 404, "Unknown admin resource");
        return;
    }
    const char *rest = path + plen;
    if (*rest == '/')
        rest++;
    char id[64];
    size_t idlen = strcspn(rest, "/");
    if (idlen < sizeof id && strcmp(rest + idlen, "/invalidations") == 0) {
        memcpy(id, rest, idlen);
        id[idlen] = '\0';
        if (strcmp(req->method, "POST") == 0)
            do_invalidate(e, id, req, resp);
        else {
            edge_reply_error(resp, 405, "Method %s not allowed here", req->method);
            ct_http_resp_header(resp, "Allow", "POST");
        }
        return;
    }
    if (idlen >= sizeof id || (rest[idlen] == '/' && rest[idlen + 1])) {
        edge_reply_error(resp, 404, "Unknown admin resource");
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
            edge_reply_error(resp, 405, "Method %s not allowed here", m);
            ct_http_resp_header(resp, "Allow", "GET, POST");
        }
        return;
    }
    if (strcmp(m, "GET") == 0)
        do_get(e, id, resp);
    else if (strcmp(m, "DELETE") == 0)
        do_delete(e, id, resp);
    else if (strcmp(m, "PATCH") == 0 || strcmp(m, "PUT") == 0)
        do_update(e, id, req, resp);
    else {
        edge_reply_error(resp, 405, "Method %s not allowed here", m);
        ct_http_resp_header(resp, "Allow", "GET, PATCH, PUT, DELETE");
    }
}
