/* client_s3.c: S3 object helpers (path-style) on ct_client_request. */
#include "client/client_internal.h"

#include "core/xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIB ((uint64_t)1 << 20)
#define DEFAULT_MULTIPART (64 * MIB)
#define MIN_PART (5 * MIB)
#define MAX_PARTS 10000

ct_err ct_client_s3_url(const ct_client *c, const char *bucket, const char *key,
                        const char *query, ct_buf *url)
{
    ct_buf_reset(url);
    if (!c->endpoint)
        return CT_ERR_INVALID;
    ct_err e = ct_buf_printf(url, "%s/", c->endpoint);
    if (!e)
        e = ct_uri_encode(url, bucket, strlen(bucket), 0);
    if (!e && key) {
        e = ct_buf_puts(url, "/");
        if (!e)
            e = ct_uri_encode(url, key, strlen(key), 1);
    }
    if (!e && query)
        e = ct_buf_printf(url, "?%s", query);
    return e;
}

/* One request on bucket/key?query. */
static ct_err s3_call(ct_client *c, ct_client_req *r, const char *bucket, const char *key,
                      const char *query, ct_client_resp *resp)
{
    ct_buf url = CT_BUF_INIT;
    ct_err e = ct_client_s3_url(c, bucket, key, query, &url);
    if (e) {
        memset(resp, 0, sizeof *resp);
        snprintf(resp->err_message, sizeof resp->err_message, "s3://%s/%s: %s", bucket, key,
                 c->endpoint ? "key too long" : "no S3 endpoint configured");
        return e;
    }
    r->url = url.data;
    e = ct_client_request(c, r, resp);
    ct_buf_free(&url);
    return e;
}

ct_err ct_client_s3_head(ct_client *c, const char *bucket, const char *key, ct_client_resp *resp)
{
    ct_client_req r = {.method = "HEAD"};
    return s3_call(c, &r, bucket, key, NULL, resp);
}

ct_err ct_client_s3_get_file(ct_client *c, const char *bucket, const char *key,
                             const char *range, const char *path, ct_client_tick_fn tick,
                             void *tick_ctx, ct_client_resp *resp)
{
    char rh[160];
    const char *hdrs[2] = {NULL, NULL};
    if (range) {
        if (ct_snprintf(rh, sizeof rh, "Range: %s", range))
            return CT_ERR_INVALID;
        hdrs[0] = rh;
    }
    ct_client_req r = {.method = "GET", .headers = hdrs, .resp_path = path, .tick = tick,
                       .tick_ctx = tick_ctx};
    ct_err e = s3_call(c, &r, bucket, key, NULL, resp);
    if (e)
        unlink(path);
    return e;
}

static ct_err put_single(ct_client *c, const char *bucket, const char *key, const char *path,
                         const char *const *hdrs, ct_client_tick_fn tick, void *tick_ctx,
                         ct_client_resp *resp)
{
    ct_client_req r = {.method = "PUT", .headers = hdrs, .body_path = path, .tick = tick,
                       .tick_ctx = tick_ctx};
    return s3_call(c, &r, bucket, key, NULL, resp);
}

/* Text of child `name` of an XML body's root (root named root_name). */
static ct_err xml_field(const ct_buf *body, const char *root_name, const char *name, char *out,
                        size_t n)
{
    ct_xml_node *root = NULL;
    char msg[64];
    ct_err e = ct_xml_parse(body->data ? body->data : "", body->len, &root, msg, sizeof msg);
    const char *v = NULL;
    if (!e && strcmp(root->name, root_name) == 0)
        v = ct_xml_child_text(root, name);
    e = e ? e : !v ? CT_ERR_INVALID : ct_snprintf(out, n, "%s", v);
    ct_xml_free(root);
    return e;
}

typedef struct {
    ct_client *c;
    const char *bucket, *key, *path;
    char upload_id[512];
    ct_buf q;      /* "uploadId=..." */
    ct_buf done;   /* CompleteMultipartUpload body */
} mpu;

static ct_err mpu_create(mpu *m, const char *const *hdrs, ct_client_resp *resp)
{
    ct_buf body = CT_BUF_INIT;
    body.max = 1 << 20;
    ct_client_req r = {.method = "POST", .headers = hdrs, .resp_body = &body};
    ct_err e = s3_call(m->c, &r, m->bucket, m->key, "uploads", resp);
    if (!e && xml_field(&body, "InitiateMultipartUploadResult", "UploadId", m->upload_id,
                        sizeof m->upload_id)) {
        snprintf(resp->err_message, sizeof resp->err_message,
                 "CreateMultipartUpload: no UploadId in the answer");
        e = CT_ERR_INVALID;
    }
    if (!e)
        e = ct_buf_puts(&m->q, "uploadId=");
    if (!e)
        e = ct_uri_encode(&m->q, m->upload_id, strlen(m->upload_id), 0);
    ct_buf_free(&body);
    return e;
}

static ct_err mpu_part(mpu *m, int num, uint64_t off, uint64_t len, ct_client_tick_fn tick,
                       void *tick_ctx, ct_client_resp *resp)
{
    ct_buf q = CT_BUF_INIT;
    ct_err e = ct_buf_printf(&q, "partNumber=%d&%s", num, m->q.data);
    ct_client_req r = {.method = "PUT", .body_path = m->path, .body_offset = off,
                       .body_size = len, .tick = tick, .tick_ctx = tick_ctx};
    if (!e)
        e = s3_call(m->c, &r, m->bucket, m->key, q.data, resp);
    if (!e && !resp->etag[0])
        e = CT_ERR_INVALID;
    if (!e)
        e = ct_buf_printf(&m->done, "<Part><PartNumber>%d</PartNumber><ETag>", num);
    if (!e)
        e = ct_xml_escape(&m->done, resp->etag);
    if (!e)
        e = ct_buf_puts(&m->done, "</ETag></Part>");
    ct_buf_free(&q);
    return e;
}

/* CompleteMultipartUpload can answer 200 with an <Error> body. */
static ct_err mpu_complete(mpu *m, ct_client_resp *resp)
{
    ct_buf body = CT_BUF_INIT;
    body.max = 1 << 20;
    ct_err e = ct_buf_puts(&m->done, "</CompleteMultipartUpload>");
    ct_client_req r = {.method = "POST", .body = m->done.data, .body_len = m->done.len,
                       .resp_body = &body};
    if (!e)
        e = s3_call(m->c, &r, m->bucket, m->key, m->q.data, resp);
    char etag[136];
    if (!e && xml_field(&body, "CompleteMultipartUploadResult", "ETag", etag, sizeof etag)) {
        if (xml_field(&body, "Error", "Code", resp->err_code, sizeof resp->err_code) == CT_OK)
            xml_field(&body, "Error", "Message", resp->err_message, sizeof resp->err_message);
        resp->retryable = strcmp(resp->err_code, "InternalError") == 0;
        e = resp->retryable ? CT_ERR_IO : CT_ERR_INVALID;
    }
    if (!e)
        snprintf(resp->etag, sizeof resp->etag, "%s", etag);
    ct_buf_free(&body);
    return e;
}

static void mpu_abort(mpu *m)
{
    ct_client_resp resp;
    ct_client_req r = {.method = "DELETE"};
    if (m->upload_id[0] && s3_call(m->c, &r, m->bucket, m->key, m->q.data, &resp))
        ct_warn("client: s3://%s/%s: could not abort upload %s: %s", m->bucket, m->key,
                m->upload_id, resp.err_code);
}

static ct_err put_multipart(ct_client *c, const char *bucket, const char *key, const char *path,
                            uint64_t size, const char *const *hdrs, ct_client_tick_fn tick,
                            void *tick_ctx, ct_client_resp *resp)
{
    uint64_t part = c->cfg.part_size ? c->cfg.part_size : DEFAULT_MULTIPART;
    if (part < MIN_PART)
        part = MIN_PART;
    while ((size + part - 1) / part > MAX_PARTS)
        part *= 2;
    mpu m = {.c = c, .bucket = bucket, .key = key, .path = path};
    ct_err e = mpu_create(&m, hdrs, resp);
    if (!e)
        e = ct_buf_puts(&m.done, "<CompleteMultipartUpload>");
    int num = 1;
    for (uint64_t off = 0; !e && off < size; off += part, num++)
        e = mpu_part(&m, num, off, size - off < part ? size - off : part, tick, tick_ctx, resp);
    if (!e)
        e = mpu_complete(&m, resp);
    if (e) {
        ct_client_resp keep = *resp;
        mpu_abort(&m);
        *resp = keep;
    }
    ct_buf_free(&m.q);
    ct_buf_free(&m.done);
    return e;
}

ct_err ct_client_s3_put_file(ct_client *c, const char *bucket, const char *key,
                             const char *path, const char *content_type, ct_client_tick_fn tick,
                             void *tick_ctx, ct_client_resp *resp)
{
    struct stat st;
    char ct[300];
    const char *hdrs[2] = {NULL, NULL};
    memset(resp, 0, sizeof *resp);
    if (stat(path, &st) != 0) {
        snprintf(resp->err_message, sizeof resp->err_message, "%s: cannot read", path);
        return CT_ERR_IO;
    }
    if (content_type && *content_type) {
        if (ct_snprintf(ct, sizeof ct, "Content-Type: %s", content_type))
            return CT_ERR_INVALID;
        hdrs[0] = ct;
    }
    uint64_t threshold = c->cfg.multipart_threshold ? c->cfg.multipart_threshold
                                                    : DEFAULT_MULTIPART;
    if ((uint64_t)st.st_size >= threshold && st.st_size > 0)
        return put_multipart(c, bucket, key, path, (uint64_t)st.st_size, hdrs, tick, tick_ctx,
                             resp);
    return put_single(c, bucket, key, path, hdrs, tick, tick_ctx, resp);
}
