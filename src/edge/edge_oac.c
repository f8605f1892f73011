/* edge_oac.c: origin access controls (OACs) as stored records, and the
 * bucket-policy statement the CloudFront console's "Copy policy" button
 * gives for a distribution.
 *
 * An OAC is a meta edge item of kind "origin-access-control": JSON {id,
 * name, description, signingProtocol, signingBehavior, originType, etag,
 * createdAt}. Names are unique. How an origin with an OAC is read is in
 * edge_origin.c. The `cattube distribution create` shortcut does the seed's
 * step 5 in one go: it reuses (or creates) the OAC named after the origin
 * ("<bucket>.s3.amazonaws.com", the console's default name) and appends the
 * copy-policy statement to the bucket's policy. */
#include "edge/edge_internal.h"
#include "iam/iam.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ct_err collect(void *ctx, const char *json)
{
    json_t *j = json_loads(json, 0, NULL);
    if (j)
        json_array_append_new(ctx, j);
    return CT_OK;
}

ct_err edge_oac_list_all(ct_edge *e, void **out)
{
    json_t *arr = json_array();
    ct_err err = arr ? ct_meta_edge_item_list(e->meta, EDGE_OAC_KIND, collect, arr)
                     : CT_ERR_NOMEM;
    if (err) {
        json_decref(arr);
        return err;
    }
    *out = arr;
    return CT_OK;
}

ct_err edge_oac_load(ct_edge *e, const char *id, void **out)
{
    char *json = NULL;
    if (!edge_dist_id_valid(id))
        return CT_ERR_NOT_FOUND;
    ct_err err = ct_meta_edge_item_get(e->meta, EDGE_OAC_KIND, id, &json);
    if (err)
        return err;
    json_t *j = json_loads(json, 0, NULL);
    free(json);
    if (!json_is_object(j)) {
        json_decref(j);
        return CT_ERR_INTERNAL;
    }
    *out = j;
    return CT_OK;
}

int edge_oac_exists(ct_edge *e, const char *id)
{
    void *j = NULL;
    if (edge_oac_load(e, id, &j))
        return 0;
    json_decref(j);
    return 1;
}

void edge_oac_new_etag(void *oac)
{
    char tag[15];
    tag[0] = 'E';
    ct_random_alnum(tag + 1, 13, 1);
    tag[14] = '\0';
    json_object_set_new(oac, "etag", json_string(tag));
}

ct_err edge_oac_create(ct_edge *e, void *fields)
{
    char id[EDGE_ID_LEN + 1], now[32];
    ct_time_iso8601(ct_now_ms(), now);
    json_object_set_new(fields, "createdAt", json_string(now));
    edge_oac_new_etag(fields);
    ct_err err = CT_ERR_EXISTS;
    for (int attempt = 0; attempt < 5 && err == CT_ERR_EXISTS; attempt++) {
        id[0] = 'E';
        ct_random_alnum(id + 1, EDGE_ID_LEN - 1, 1);
        id[EDGE_ID_LEN] = '\0';
        json_object_set_new(fields, "id", json_string(id));
        char *text = json_dumps(fields, JSON_COMPACT);
        err = text ? ct_meta_edge_item_put(e->meta, EDGE_OAC_KIND, id, text, 1) : CT_ERR_NOMEM;
        free(text);
    }
    return err;
}

/* The OAC named name, created with the console's defaults when missing. */
static ct_err default_oac(ct_edge *e, const char *name, char id[EDGE_ID_LEN + 1])
{
    void *v = NULL;
    ct_err err = edge_oac_list_all(e, &v);
    if (err)
        return err;
    json_t *all = v, *o;
    size_t i;
    json_array_foreach(all, i, o)
    {
        const char *n = json_string_value(json_object_get(o, "name"));
        const char *oid = json_string_value(json_object_get(o, "id"));
        if (n && oid && !strcmp(n, name) && strlen(oid) == EDGE_ID_LEN) {
            memcpy(id, oid, EDGE_ID_LEN + 1);
            json_decref(all);
            return CT_OK;
        }
    }
    json_decref(all);
    json_t *f = json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", name, "description", "",
                          "signingProtocol", "sigv4", "signingBehavior", "always",
                          "originType", "s3");
    err = f ? edge_oac_create(e, f) : CT_ERR_NOMEM;
    if (!err)
        memcpy(id, json_string_value(json_object_get(f, "id")), EDGE_ID_LEN + 1);
    json_decref(f);
    return err;
}

ct_err edge_oac_for_bucket(ct_edge *e, const char *bucket, char id[EDGE_ID_LEN + 1])
{
    char name[128];
    snprintf(name, sizeof name, "%s.s3.amazonaws.com", bucket);
    return default_oac(e, name, id);
}

void *edge_oac_statement(ct_edge *e, const char *bucket, const char *dist_id)
{
    char res[128], arn[128], sid[80];
    snprintf(res, sizeof res, "arn:aws:s3:::%s/*", bucket);
    snprintf(arn, sizeof arn, "arn:aws:cloudfront::%s:distribution/%s", e->account_id, dist_id);
    snprintf(sid, sizeof sid, "AllowCloudFrontServicePrincipal-%s", dist_id);
    return json_pack("{s:s, s:s, s:{s:s}, s:s, s:s, s:{s:{s:s}}}", "Sid", sid, "Effect", "Allow",
                     "Principal", "Service", "cloudfront.amazonaws.com", "Action", "s3:GetObject",
                     "Resource", res, "Condition", "StringEquals", "AWS:SourceArn", arn);
}

ct_err edge_oac_grant(ct_edge *e, const char *bucket, const char *dist_id, char *msg, size_t n)
{
    ct_meta_bucket b;
    memset(&b, 0, sizeof b);
    ct_err err = ct_meta_bucket_get(e->meta, bucket, &b);
    if (err)
        return err;
    json_t *doc = b.policy_json ? json_loads(b.policy_json, 0, NULL) : NULL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        doc = json_pack("{s:s, s:s, s:[]}", "Version", "2008-10-17", "Id",
                        "PolicyForCloudFrontPrivateContent", "Statement");
    }
    json_t *st = json_object_get(doc, "Statement");
    if (json_is_object(st)) { /* a single statement object: make it a list */
        json_t *one = json_incref(st);
        st = json_array();
        json_array_append_new(st, one);
        json_object_set_new(doc, "Statement", st);
    }
    json_t *add = edge_oac_statement(e, bucket, dist_id);
    char *text = NULL;
    err = CT_ERR_NOMEM;
    if (doc && json_is_array(st) && add && !json_array_append(st, add) &&
        (text = json_dumps(doc, JSON_COMPACT))) {
        err = ct_iam_policy_validate(text, CT_POLICY_RESOURCE, bucket, msg, n);
        if (!err)
            err = ct_meta_bucket_set_policy(e->meta, bucket, text);
    }
    free(text);
    json_decref(add);
    json_decref(doc);
    ct_meta_bucket_free(&b);
    return err;
}
