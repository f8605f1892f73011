/* s3_policy.c: authorization of S3 requests and the bucket policy API.
 *
 * Each request maps to one IAM action and resource (arn:aws:s3:::bucket or
 * arn:aws:s3:::bucket/key; arn:aws:s3:::* for ListAllMyBuckets) and is
 * decided by iam with the bucket's policy. CopyObject also needs
 * s3:GetObject on the source (decided with the source bucket's policy).
 * DeleteObjects (POST ?delete) is decided per key, as S3 does: each key's
 * s3:DeleteObject on arn:aws:s3:::bucket/key (s3_allowed_key), a denied key
 * becoming an AccessDenied entry of the result. */
#include "s3/s3_policy.h"

#include <string.h>

#define XML_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define S3_NS "http://s3.amazonaws.com/doc/2006-03-01/"

static int is(const ct_http_req *req, const char *m) { return strcmp(req->method, m) == 0; }

static const char *bucket_action(const ct_http_req *req)
{
    if (ct_http_query_has(req, "policyStatus"))
        return "s3:GetBucketPolicyStatus";
    if (ct_http_query_has(req, "policy"))
        return is(req, "GET") ? "s3:GetBucketPolicy"
               : is(req, "PUT") ? "s3:PutBucketPolicy" : "s3:DeleteBucketPolicy";
    if (ct_http_query_has(req, "notification"))
        return is(req, "PUT") ? "s3:PutBucketNotification" : "s3:GetBucketNotification";
    if (is(req, "POST") && ct_http_query_has(req, "delete"))
        return NULL; /* decided per key */
    if (is(req, "PUT"))
        return "s3:CreateBucket";
    if (is(req, "DELETE"))
        return "s3:DeleteBucket";
    if (ct_http_query_has(req, "location"))
        return "s3:GetBucketLocation";
    if (ct_http_query_has(req, "versioning"))
        return "s3:GetBucketVersioning";
    if (ct_http_query_has(req, "versions"))
        return "s3:ListBucketVersions";
    if (ct_http_query_has(req, "uploads"))
        return "s3:ListBucketMultipartUploads";
    return "s3:ListBucket"; /* listings, HeadBucket */
}

static const char *object_action(const ct_http_req *req)
{
    if (ct_http_query_has(req, "uploadId")) {
        if (is(req, "DELETE"))
            return "s3:AbortMultipartUpload";
        if (is(req, "GET"))
            return "s3:ListMultipartUploadParts";
        return "s3:PutObject"; /* UploadPart, CompleteMultipartUpload */
    }
    if (is(req, "GET") || is(req, "HEAD"))
        return "s3:GetObject";
    if (is(req, "DELETE"))
        return "s3:DeleteObject";
    return "s3:PutObject"; /* PutObject, CopyObject, CreateMultipartUpload */
}

const char *s3_action_of(const ct_http_req *req, const s3_target *t)
{
    if (!t->bucket[0])
        return "s3:ListAllMyBuckets";
    return t->key ? object_action(req) : bucket_action(req);
}

/* One decision: action on arn:aws:s3:::bucket[/key] (arn:aws:s3:::* without
 * a bucket) with the given bucket policy (NULL: none). */
static int decide(ct_s3 *s, const ct_http_req *req, const char *action, const char *bucket,
                  const char *key, const char *policy)
{
    if (!s->cfg.iam)
        return !req->principal.anonymous;
    ct_buf res = CT_BUF_INIT;
    if (!bucket[0])
        ct_buf_puts(&res, "arn:aws:s3:::*");
    else if (ct_buf_printf(&res, "arn:aws:s3:::%s", bucket) == CT_OK && key)
        ct_buf_printf(&res, "/%s", key);
    int ok = 0;
    if (res.data) {
        ct_iam_request r = {.action = action, .resource = res.data,
                            .bucket_policy_json = policy, .source_ip = req->client_ip,
                            .secure = req->secure};
        ok = ct_iam_authorize(s->cfg.iam, &req->principal, &r) == CT_OK;
    }
    ct_buf_free(&res);
    return ok;
}

/* As decide, with that bucket's stored policy. */
static int allowed(ct_s3 *s, const ct_http_req *req, const char *action, const char *bucket,
                   const char *key)
{
    /* The root user is allowed everything, whatever the bucket policy says
     * (ct_iam_authorize): skip reading the policy (a query per request). */
    if (s->cfg.iam && ct_iam_is_root(s->cfg.iam, &req->principal))
        return 1;
    ct_meta_bucket b = {0};
    int have_bucket = bucket[0] && ct_meta_bucket_get(s->meta, bucket, &b) == CT_OK;
    int ok = decide(s, req, action, bucket, key, have_bucket ? b.policy_json : NULL);
    if (have_bucket)
        ct_meta_bucket_free(&b);
    return ok;
}

int s3_allowed_key(ct_s3 *s, const ct_http_req *req, const char *action, const char *bucket,
                   const char *key, const char *bucket_policy)
{
    return decide(s, req, action, bucket, key, bucket_policy);
}

/* x-amz-copy-source "/bucket/key" or "bucket/key" (URL-encoded, optional
 * "?versionId="): s3:GetObject on it. A malformed source is left to the
 * operation to refuse. */
static int copy_source_allowed(ct_s3 *s, const ct_http_req *req, const char *src)
{
    if (*src == '/')
        src++;
    size_t n = strcspn(src, "?");
    size_t dlen;
    char *d = ct_uri_decode(src, n, 0, &dlen);
    if (!d)
        return 0;
    int ok = 1;
    char *slash = strchr(d, '/');
    if (dlen == strlen(d) && slash && slash[1] && (size_t)(slash - d) < 256) {
        *slash = '\0';
        ok = allowed(s, req, "s3:GetObject", d, slash + 1);
    }
    free(d);
    return ok;
}

int s3_authorize(ct_s3 *s, const ct_http_req *req, const s3_target *t)
{
    const char *action = s3_action_of(req, t);
    if (!action)
        return 1; /* DeleteObjects: each key is decided by the operation */
    if (!s->cfg.iam)
        return !req->principal.anonymous;
    if (!allowed(s, req, action, t->bucket, t->key))
        return 0;
    const char *src = t->key && is(req, "PUT") ? ct_http_header(req, "x-amz-copy-source") : NULL;
    return !src || copy_source_allowed(s, req, src);
}

/* ---- ?policy / ?policyStatus ---- */

static void malformed(ct_http_resp *resp, const ct_http_req *req, const char *msg)
{
    ct_s3_error(resp, req, "MalformedPolicy", msg);
    resp->status = 400;
}

static void policy_put(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const char *bucket)
{
    char msg[256];
    if (!req->body || !req->body_len || strlen(req->body) != req->body_len) {
        malformed(resp, req, "Policies must be valid JSON and the first byte must be '{'");
        return;
    }
    if (ct_iam_policy_validate(req->body, CT_POLICY_RESOURCE, bucket, msg, sizeof msg)) {
        malformed(resp, req, msg);
        return;
    }
    ct_err e = ct_meta_bucket_set_policy(s->meta, bucket, req->body);
    if (e) {
        s3_internal_error(resp, req, e);
        return;
    }
    resp->status = 204;
}

static void policy_status(ct_http_resp *resp, const char *policy)
{
    ct_buf_printf(&resp->body,
                  XML_HEAD "<PolicyStatus xmlns=\"" S3_NS "\"><IsPublic>%s</IsPublic></PolicyStatus>",
                  ct_iam_policy_is_public(policy) ? "true" : "false");
    resp->status = 200;
    ct_http_resp_header(resp, "Content-Type", "application/xml");
}

static void policy_get(ct_http_req *req, ct_http_resp *resp, const char *policy, int status)
{
    if (!policy) {
        ct_s3_error(resp, req, "NoSuchBucketPolicy", "The bucket policy does not exist");
        return;
    }
    if (status) {
        policy_status(resp, policy);
        return;
    }
    ct_buf_puts(&resp->body, policy);
    resp->status = 200;
    ct_http_resp_header(resp, "Content-Type", "application/json");
}

void s3_policy_op(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const char *bucket)
{
    int status = ct_http_query_has(req, "policyStatus");
    if (!is(req, "GET") && (status || (!is(req, "PUT") && !is(req, "DELETE")))) {
        ct_s3_error(resp, req, "MethodNotAllowed",
                    "The specified method is not allowed against this resource.");
        return;
    }
    ct_meta_bucket b;
    ct_err e = ct_meta_bucket_get(s->meta, bucket, &b);
    if (e) {
        if (e == CT_ERR_NOT_FOUND)
            ct_s3_error(resp, req, "NoSuchBucket", "The specified bucket does not exist");
        else
            s3_internal_error(resp, req, e);
        return;
    }
    if (is(req, "GET")) {
        policy_get(req, resp, b.policy_json, status);
    } else if (is(req, "PUT")) {
        policy_put(s, req, resp, bucket);
    } else if ((e = ct_meta_bucket_set_policy(s->meta, bucket, NULL))) {
        s3_internal_error(resp, req, e);
    } else {
        resp->status = 204;
    }
    ct_meta_bucket_free(&b);
}
