/* edge_cf_inval.c: CreateInvalidation / GetInvalidation /
 * ListInvalidations, and the one place an invalidation is recorded (the
 * admin API's POST .../invalidations uses it too). Invalidations are kept in
 * the distribution's record, newest EDGE_INVAL_KEEP; they complete at once
 * here (the cache is in process), and standalone edges apply the ones they
 * have not seen when they next poll the distribution list (edge_sync.c). */
#include "edge/edge_cf.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void x_invalidation(ct_buf *b, const json_t *inv)
{
    ct_buf_puts(b, "<Invalidation xmlns=\"" CF_NS "\">");
    cf_x_text(b, "Id", cf_js(inv, "id"));
    cf_x_text(b, "Status", "Completed");
    cf_x_text(b, "CreateTime", cf_js(inv, "createTime"));
    ct_buf_puts(b, "<InvalidationBatch>");
    cf_x_list(b, "Paths", "Path", json_object_get(inv, "paths"));
    cf_x_text(b, "CallerReference", cf_js(inv, "callerReference"));
    ct_buf_puts(b, "</InvalidationBatch></Invalidation>");
}

ct_err edge_dist_record_invalidation(ct_edge *e, const char *id, void *paths, const char *cref,
                                     void **inv_out)
{
    char *json = NULL, *text = NULL;
    json_t *d = NULL, *inv = NULL, *p;
    size_t i;
    ct_err err = ct_meta_distribution_get(e->meta, id, &json);
    if (!err && !(d = json_loads(json, 0, NULL)))
        err = CT_ERR_INVALID;
    if (err)
        goto cleanup;
    json_array_foreach((json_t *)paths, i, p) edge_dist_invalidate_path(e, id, json_string_value(p));
    char iid[15], now[32];
    iid[0] = 'I';
    ct_random_alnum(iid + 1, 13, 1);
    iid[14] = '\0';
    ct_time_iso8601(ct_now_ms(), now);
    inv = json_pack("{s:s, s:s, s:s, s:O}", "id", iid, "createTime", now, "callerReference",
                    cref ? cref : "", "paths", (json_t *)paths);
    json_t *list = json_object_get(d, "invalidations");
    if (!json_is_array(list)) {
        list = json_array();
        json_object_set_new(d, "invalidations", list);
    }
    if (!inv || !list || json_array_insert(list, 0, inv)) {
        err = CT_ERR_NOMEM;
        goto cleanup;
    }
    while (json_array_size(list) > EDGE_INVAL_KEEP)
        json_array_remove(list, EDGE_INVAL_KEEP);
    /* stored as is: the ETag stays, so an edge's poll sees only the new entry */
    text = json_dumps(d, JSON_COMPACT);
    err = text ? ct_meta_distribution_put(e->meta, id, text, 0) : CT_ERR_NOMEM;
    if (!err)
        ct_info("edge: invalidation %s of %zu path(s) on %s", iid, json_array_size(paths), id);
cleanup:
    if (!err && inv_out)
        *inv_out = json_incref(inv);
    json_decref(inv);
    json_decref(d);
    free(text);
    free(json);
    return err;
}

int cf_do_invalidate(ct_edge *e, const char *id, const ct_http_req *req, ct_http_resp *resp,
                         cf_fail *f)
{
    ct_xml_node *root = NULL;
    json_t *d = NULL, *paths = NULL, *inv = NULL;
    int rc = -1;
    if (cf_load(e, id, &d, f) || cf_parse_body(req, &root, f))
        goto cleanup;
    const ct_xml_node *pn = ct_xml_child(root, "Paths");
    const char *cref = ct_xml_child_text(root, "CallerReference");
    if (strcmp(root->name, "InvalidationBatch") || !pn || !cref || !*cref) {
        cf_failf(f, 400, "MalformedInput", "The body must be an InvalidationBatch");
        goto cleanup;
    }
    if (cf_get_items(pn, "Path", CF_PATHS_MAX, &paths, f))
        goto cleanup;
    size_t i, n = json_array_size(paths);
    json_t *p;
    json_array_foreach(paths, i, p)
    {
        const char *s = json_string_value(p);
        if (s[0] != '/' || strlen(s) > 4096) {
            cf_failf(f, 400, "InvalidArgument", "Each path must start with /");
            goto cleanup;
        }
    }
    if (!n) {
        cf_failf(f, 400, "InvalidArgument", "An invalidation needs at least one path");
        goto cleanup;
    }
    void *rec = NULL;
    ct_err err = edge_dist_record_invalidation(e, id, paths, cref, &rec);
    inv = rec;
    if (err) {
        cf_failf(f, 500, "InternalError", "Cannot store: %s", ct_err_str(err));
        goto cleanup;
    }
    char loc[200];
    snprintf(loc, sizeof loc,
             "https://cloudfront.amazonaws.com/2020-05-31/distribution/%s/invalidation/%s", id,
             cf_js(inv, "id"));
    ct_http_resp_header(resp, "Location", loc);
    ct_buf b = CT_BUF_INIT;
    x_invalidation(&b, inv);
    cf_reply_xml(resp, 201, &b, NULL);
    ct_buf_free(&b);
    rc = 0;
cleanup:
    json_decref(inv);
    json_decref(paths);
    json_decref(d);
    ct_xml_free(root);
    return rc;
}

int cf_do_invalidations(ct_edge *e, const char *id, const char *iid, ct_http_resp *resp,
                            cf_fail *f)
{
    json_t *d = NULL, *inv = NULL;
    if (cf_load(e, id, &d, f))
        return -1;
    json_t *list = json_object_get(d, "invalidations");
    size_t i;
    ct_buf b = CT_BUF_INIT;
    if (iid) {
        json_array_foreach(list, i, inv) if (!strcmp(cf_js(inv, "id"), iid)) break;
        if (i < json_array_size(list))
            x_invalidation(&b, inv);
        else
            cf_failf(f, 404, "NoSuchInvalidation", "The specified invalidation does not exist.");
    } else {
        ct_buf_printf(&b, "<InvalidationList xmlns=\"" CF_NS "\"><Marker></Marker>"
                          "<MaxItems>%d</MaxItems><IsTruncated>false</IsTruncated>"
                          "<Quantity>%zu</Quantity>",
                      CF_INVAL_KEEP, json_array_size(list));
        if (json_array_size(list))
            ct_buf_puts(&b, "<Items>");
        json_array_foreach(list, i, inv)
        {
            ct_buf_puts(&b, "<InvalidationSummary>");
            cf_x_text(&b, "Id", cf_js(inv, "id"));
            cf_x_text(&b, "CreateTime", cf_js(inv, "createTime"));
            ct_buf_puts(&b, "<Status>Completed</Status></InvalidationSummary>");
        }
        ct_buf_puts(&b, json_array_size(list) ? "</Items></InvalidationList>"
                                              : "</InvalidationList>");
    }
    if (!f->status)
        cf_reply_xml(resp, 200, &b, NULL);
    ct_buf_free(&b);
    json_decref(d);
    return f->status ? -1 : 0;
}
