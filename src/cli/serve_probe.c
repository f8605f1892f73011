/* serve_probe: the server's side of MediaConvert's Probe (ct_mc_probe_fn).
 *
 * DESIGN: mc knows neither the store nor the sandbox; this glue does what a
 * job's input read would do, for the API caller: s3:GetObject is authorized
 * for the caller (identity and bucket policies, like an S3 GET), the object
 * is looked up in meta, and its blob is probed in the sandboxed child
 * (ct_sandbox_probe). Inputs are read in place: the blob file is opened by
 * the parent and handed to the child as fd 3. */
#include "cli/cli.h"
#include "sandbox/sandbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int get_allowed(const ct_serve_probe_ctx *c, const ct_http_req *req, const char *bucket,
                       const char *key, const char *bucket_policy)
{
    ct_buf res = CT_BUF_INIT;
    if (ct_iam_is_root(c->iam, &req->principal))
        return 1;
    if (ct_buf_printf(&res, "arn:aws:s3:::%s/%s", bucket, key))
        return 0;
    ct_iam_request r = {.action = "s3:GetObject", .resource = res.data,
                        .bucket_policy_json = bucket_policy, .source_ip = req->client_ip,
                        .secure = req->secure};
    int ok = ct_iam_authorize(c->iam, &req->principal, &r) == CT_OK;
    ct_buf_free(&res);
    return ok;
}

ct_err ct_serve_probe(void *ctx, const ct_http_req *req, const char *bucket, const char *key,
                      ct_mc_probe_out *out)
{
    const ct_serve_probe_ctx *c = ctx;
    ct_meta_bucket b = {0};
    ct_meta_object o = {0};
    static const ct_sandbox_limits lim = {0};
    ct_transcode_result res;
    char path[4096];
    int have_b = 0, have_o = 0, have_tmp = 0;
    ct_err err = ct_meta_bucket_get(c->meta, bucket, &b);
    if (err) {
        snprintf(out->msg, sizeof out->msg, err == CT_ERR_NOT_FOUND ? "NoSuchBucket: the bucket "
                 "does not exist" : "cannot read the bucket");
        goto cleanup;
    }
    have_b = 1;
    if (!get_allowed(c, req, bucket, key, b.policy_json)) {
        snprintf(out->msg, sizeof out->msg, "AccessDenied: s3:GetObject is not allowed");
        err = CT_ERR_DENIED;
        goto cleanup;
    }
    if ((err = ct_meta_object_get(c->meta, bucket, key, &o))) {
        snprintf(out->msg, sizeof out->msg, err == CT_ERR_NOT_FOUND ? "NoSuchKey: the object "
                 "does not exist" : "cannot read the object");
        goto cleanup;
    }
    have_o = 1;
    if (o.is_inline) { /* no file: the probe child reads one, in the store's scratch dir */
        int len = snprintf(path, sizeof path, "%s/probe-XXXXXX", ct_store_scratch_dir(c->store));
        int fd = len > 0 && (size_t)len < sizeof path ? mkstemp(path) : -1;
        if (fd < 0) {
            err = CT_ERR_IO;
            goto cleanup;
        }
        close(fd);
        have_tmp = 1;
        if ((err = ct_store_bytes_file(path, o.inline_data, o.inline_len)))
            goto cleanup;
    } else if ((err = ct_store_local_path(c->store, o.blob_id, path, sizeof path))) {
        goto cleanup;
    }
    err = ct_sandbox_probe(path, &lim, &out->container_json, &res);
    if (err) {
        snprintf(out->msg, sizeof out->msg, "%s", res.error_message);
        goto cleanup;
    }
    snprintf(out->etag, sizeof out->etag, "%s", o.etag);
    snprintf(out->content_type, sizeof out->content_type, "%s", o.content_type ? o.content_type : "");
    out->size = o.size;
    out->last_modified_ms = o.mtime_ms;
cleanup:
    if (have_tmp)
        unlink(path);
    if (have_o)
        ct_meta_object_free(&o);
    if (have_b)
        ct_meta_bucket_free(&b);
    return err;
}
