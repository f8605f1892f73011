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
 * where a bucket policy change does not reach objects already cached. */
#include "edge/edge_internal.h"
#include "iam/iam.h"

#include <stdio.h>
#include <string.h>

static int allowed(ct_edge *e, const edge_dist *d, const char *policy, const char *action,
                   const char *resource)
{
    if (!policy || !*policy)
        return 0;
    ct_principal p;
    memset(&p, 0, sizeof p);
    char arn[128];
    snprintf(arn, sizeof arn, "arn:aws:cloudfront::%s:distribution/%s", e->account_id, d->id);
    if (d->oac_id[0])
        snprintf(p.service_principal, sizeof p.service_principal, "cloudfront.amazonaws.com");
    else
        p.anonymous = 1;
    ct_iam_request r = {.action = action, .resource = resource, .source_ip = NULL,
                        .secure = 1, .source_arn = d->oac_id[0] ? arn : NULL};
    return ct_iam_policy_eval(policy, CT_POLICY_RESOURCE, &p, &r) == CT_POLICY_ALLOW;
}

ct_err edge_origin_head(ct_edge *e, const edge_dist *d, const char *key, ct_meta_object *out)
{
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
