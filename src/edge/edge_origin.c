/* edge_origin.c: how the edge reads its origin.
 *
 * DESIGN: the edge reads an S3 origin the way CloudFront reads one, so the
 * bucket's own policy decides. An origin with an origin access control
 * (OriginAccessControlId) is read as the service principal
 * cloudfront.amazonaws.com with aws:SourceArn =
 * arn:aws:cloudfront::<account>:distribution/<id>; the statement that the
 * CloudFront console's "Copy policy" produces allows exactly that. An origin
 * without one is read as an anonymous request (public buckets only). The
 * decision is iam's policy evaluation (ct_iam_policy_eval) on the bucket's
 * stored policy, not a copy of it; only the bucket policy counts (these
 * principals have no identity policies).
 *
 * Like S3, a key that does not exist answers 404 only to a reader allowed
 * s3:ListBucket; any other reader gets 403, so names cannot be probed.
 *
 * The check runs when the edge reads the origin (a cache miss); a cached
 * row stays servable until its TTL or an invalidation, as at CloudFront,
 * where a bucket policy change does not reach objects already cached.
 *
 * Two kinds of origin sit behind the same two calls (head, open):
 *   - local (cattube serve): meta + store in process; the policy is
 *     evaluated here; the bytes are the blob's fd (sendfile).
 *   - remote: any S3-compatible endpoint read through the outbound client
 *     (client/client.h) with a HEAD for the row and a GET into the disk
 *     cache (edge_disk.c) for the bytes. The origin enforces its own
 *     policy: an origin with an OAC is read with the edge's SigV4
 *     credentials, one without is read unsigned (anonymous). Which kind a
 *     distribution has is decided per distribution (edge_dist.origin_url,
 *     resolved in edge_dists.c): every one on `cattube edge --origin URL`,
 *     and on `cattube serve` those with an external origin (a
 *     CustomOriginConfig such as MinIO, or an amazonaws.com bucket that is
 *     not on this node). */
#include "edge/edge_origin.h"
#include "client/client.h"
#include "edge/edge_internal.h"
#include "iam/iam.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int allowed(ct_edge *e, const edge_dist *d, const char *policy, const char *action,
                   const char *resource)
{
    if (!policy || !*policy)
        return 0;
    ct_principal p;
    memset(&p, 0, sizeof p);
    char arn[128]; /* aws:SourceArn: the distribution's ARN as its API node made it */
    if (d->arn[0])
        snprintf(arn, sizeof arn, "%s", d->arn);
    else
        snprintf(arn, sizeof arn, "arn:aws:cloudfront::%s:distribution/%s", e->account_id, d->id);
    if (d->oac_id[0])
        snprintf(p.service_principal, sizeof p.service_principal, "cloudfront.amazonaws.com");
    else
        p.anonymous = 1;
    ct_iam_request r = {.action = action, .resource = resource, .source_ip = NULL,
                        .secure = 1, .source_arn = d->oac_id[0] ? arn : NULL};
    return ct_iam_policy_eval(policy, CT_POLICY_RESOURCE, &p, &r) == CT_POLICY_ALLOW;
}

/* ---- remote origin ---- */

/* A client for d's remote origin, signing with the edge's keys when sign is
 * set (else anonymous). An external origin's host must be in
 * --origin-allow, and every address connected to allowed for it
 * (edge_allow_connect); the standalone edge's own --origin is the
 * operator's choice. */
static ct_err origin_client_open(ct_edge *e, const edge_dist *d, int sign, ct_client **c)
{
    char hp[EDGE_HOST_MAX + 8];
    if (!d->origin_node && !edge_allow_url(e->allow, d->origin_url, hp, sizeof hp)) {
        ct_warn("edge: distribution %s: origin %s is not in --origin-allow: not contacted", d->id,
                hp);
        return CT_ERR_IO;
    }
    ct_client_config cfg = {.endpoint = d->origin_url,
                            .connect_check = d->origin_node ? NULL : edge_allow_connect,
                            .connect_check_ctx = e->allow,
                            .access_key = sign ? e->origin_ak : NULL,
                            .secret_key = sign ? e->origin_sk : NULL,
                            .region = d->origin_region[0] ? d->origin_region : NULL,
                            .no_verify_tls = e->origin_no_verify,
                            .ca_file = e->origin_ca_file,
                            .connect_timeout_s = 5,
                            .low_speed_timeout_s = 30};
    return ct_client_open(&cfg, c);
}

/* Object reads sign only for a distribution with an origin access control. */
static ct_err remote_client(ct_edge *e, const edge_dist *d, ct_client **c)
{
    return origin_client_open(e, d, d->oac_id[0] && e->origin_ak && e->origin_sk, c);
}

static ct_err remote_err(ct_err err, const ct_client_resp *resp, const char *what)
{
    if (err == CT_ERR_DENIED || err == CT_ERR_NOT_FOUND)
        return err;
    ct_warn("edge: origin %s: %s %s %s", what, ct_err_str(err), resp->err_code,
            resp->err_message);
    return err == CT_ERR_NOMEM ? err : CT_ERR_IO;
}

/* The row of a remote object from its HEAD answer. */
static ct_err row_from_head(const edge_dist *d, const char *key, const ct_client_resp *r,
                            ct_meta_object *o)
{
    memset(o, 0, sizeof *o);
    size_t el = strlen(r->etag);
    const char *et = r->etag;
    if (el >= 2 && et[0] == '"' && et[el - 1] == '"') {
        et++;
        el -= 2;
    }
    if (r->content_length < 0 || !el || el >= sizeof o->etag)
        return CT_ERR_IO; /* an origin that gives no length or ETag cannot be cached */
    memcpy(o->etag, et, el);
    o->size = (uint64_t)r->content_length;
    int64_t t = r->last_modified[0] ? ct_time_parse_http(r->last_modified) : -1;
    o->mtime_ms = t >= 0 ? t * 1000 : 0;
    o->bucket = strdup(d->origin_bucket);
    o->key = strdup(key);
    o->content_type = strdup(r->content_type);
    if (r->cache_control[0]) {
        json_t *m = json_pack("{s:s}", "cache-control", r->cache_control);
        o->meta_json = m ? json_dumps(m, JSON_COMPACT) : NULL;
        json_decref(m);
    }
    if (!o->bucket || !o->key || !o->content_type) {
        ct_meta_object_free(o);
        return CT_ERR_NOMEM;
    }
    return CT_OK;
}

/* --evaluate-bucket-policy: the origin bucket's policy (GetBucketPolicy with
 * the edge's credentials) into *policy (NULL when it has none). */
static ct_err remote_policy(ct_edge *e, const edge_dist *d, char **policy)
{
    ct_client *c = NULL;
    ct_buf url = CT_BUF_INIT, body = CT_BUF_INIT;
    body.max = CT_POLICY_MAX + 1;
    ct_client_resp resp;
    memset(&resp, 0, sizeof resp);
    *policy = NULL;
    ct_err err = origin_client_open(e, d, 1, &c);
    if (!err)
        err = ct_client_s3_url(c, d->origin_bucket, NULL, "policy", &url);
    if (!err) {
        ct_client_req rq = {.method = "GET", .url = url.data, .resp_body = &body};
        err = ct_client_request(c, &rq, &resp);
    }
    ct_client_close(c);
    ct_buf_free(&url);
    if (err == CT_ERR_NOT_FOUND) /* NoSuchBucketPolicy (or no bucket): nothing is granted */
        err = CT_OK;
    else if (err)
        err = remote_err(err, &resp, "GetBucketPolicy");
    else
        *policy = ct_buf_take(&body);
    ct_buf_free(&body);
    return err;
}

static ct_err remote_head(ct_edge *e, const edge_dist *d, const char *key, ct_meta_object *out)
{
    char *policy = NULL;
    ct_buf res = CT_BUF_INIT;
    ct_err err = CT_OK;
    int eval = e->origin_eval_policy && d->origin_node;
    if (eval) { /* the bucket policy decides, as for a local origin */
        err = remote_policy(e, d, &policy);
        if (!err && ct_buf_printf(&res, "arn:aws:s3:::%s/%s", d->origin_bucket, key))
            err = CT_ERR_NOMEM;
        if (!err && !allowed(e, d, policy, "s3:GetObject", res.data))
            err = CT_ERR_DENIED;
    }
    ct_client *c = NULL;
    ct_client_resp resp;
    memset(&resp, 0, sizeof resp);
    if (!err)
        err = remote_client(e, d, &c);
    if (!err)
        err = ct_client_s3_head(c, d->origin_bucket, key, &resp);
    ct_client_close(c);
    if (err == CT_ERR_NOT_FOUND && eval) {
        ct_buf_reset(&res);
        if (ct_buf_printf(&res, "arn:aws:s3:::%s", d->origin_bucket) ||
            !allowed(e, d, policy, "s3:ListBucket", res.data))
            err = CT_ERR_DENIED;
    }
    free(policy);
    ct_buf_free(&res);
    if (err)
        return err == CT_ERR_DENIED ? err : remote_err(err, &resp, "HEAD");
    return row_from_head(d, key, &resp, out);
}

typedef struct {
    ct_edge *e;
    const edge_dist *d;
    const char *key;
    const char *etag; /* the row's: the bytes must be that version */
} fill_ctx;

/* 1 when the quoted ETag of a GET answer is etag (unquoted). */
static int same_etag(const char *quoted, const char *etag)
{
    size_t n = strlen(quoted);
    if (n >= 2 && quoted[0] == '"' && quoted[n - 1] == '"')
        return n - 2 == strlen(etag) && !strncmp(quoted + 1, etag, n - 2);
    return !strcmp(quoted, etag);
}

static ct_err remote_fill(void *ctx, const char *tmp_path)
{
    fill_ctx *f = ctx;
    ct_client *c = NULL;
    ct_client_resp resp;
    memset(&resp, 0, sizeof resp);
    int64_t t0 = edge_now_us();
    ct_err err = remote_client(f->e, f->d, &c);
    if (!err)
        err = ct_client_s3_get_file(c, f->d->origin_bucket, f->key, NULL, tmp_path, NULL, NULL,
                                    &resp);
    ct_client_close(c);
    edge_metrics_origin(f->e, edge_now_us() - t0);
    if (err)
        return remote_err(err, &resp, "GET");
    if (resp.etag[0] && !same_etag(resp.etag, f->etag)) {
        /* overwritten since the HEAD: neither kept nor served under the old
         * row, which is dropped so the next request reads both again */
        ct_warn("edge: origin %s/%s changed between HEAD and GET", f->d->origin_bucket, f->key);
        edge_cache_invalidate(f->e->cache, f->d->id, f->key, 0);
        return CT_ERR_IO;
    }
    return CT_OK;
}

ct_err edge_origin_open(ct_edge *e, const edge_dist *d, const ct_meta_object *o, int *fd,
                        uint64_t *size, int *hit)
{
    if (o->is_inline) { /* a local row with its bytes; gzip and multi-range read a file */
        *hit = 1;
        *size = o->inline_len;
        return ct_store_bytes_fd(o->inline_data, o->inline_len, fd);
    }
    if (!d->origin_url[0]) {
        *hit = 1;
        return ct_store_open_read(e->store, o->blob_id, fd, size);
    }
    if (!e->disk)
        return CT_ERR_UNSUPPORTED;
    char *ckey = NULL;
    if (asprintf(&ckey, "%s/%s", d->id, o->key) < 0)
        return CT_ERR_NOMEM;
    fill_ctx f = {e, d, o->key, o->etag};
    ct_err err = edge_disk_get(e->disk, ckey, o, edge_cache_ttl(d, o), remote_fill, &f, fd,
                               size, hit);
    free(ckey);
    return err;
}

/* ---- both ---- */

ct_err edge_origin_head(ct_edge *e, const edge_dist *d, const char *key, ct_meta_object *out)
{
    if (d->origin_url[0])
        return remote_head(e, d, key, out);
    ct_meta_bucket b;
    memset(&b, 0, sizeof b);
    ct_err err = ct_meta_bucket_get(e->meta, d->origin_bucket, &b);
    if (err == CT_ERR_NOT_FOUND)
        return CT_ERR_DENIED; /* the origin bucket is gone: nothing readable */
    if (err)
        return err;
    ct_buf res = CT_BUF_INIT;
    ct_buf_printf(&res, "arn:aws:s3:::%s/%s", d->origin_bucket, key);
    if (!res.data) {
        err = CT_ERR_NOMEM;
        goto cleanup;
    }
    if (!allowed(e, d, b.policy_json, "s3:GetObject", res.data)) {
        err = CT_ERR_DENIED;
        goto cleanup;
    }
    err = ct_meta_object_get(e->meta, d->origin_bucket, key, out);
    if (err == CT_ERR_NOT_FOUND) {
        ct_buf_reset(&res);
        ct_buf_printf(&res, "arn:aws:s3:::%s", d->origin_bucket);
        if (!res.data || !allowed(e, d, b.policy_json, "s3:ListBucket", res.data))
            err = CT_ERR_DENIED;
    }
cleanup:
    ct_buf_free(&res);
    ct_meta_bucket_free(&b);
    return err;
}
