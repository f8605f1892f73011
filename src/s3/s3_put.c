/* s3_put.c: PutObject as a stream, and committing local files as objects.
 *
 * DESIGN: the body goes straight into a store writer (through the aws-chunked
 * decoder when the client used it). Nothing is visible until stream_end has
 * checked every digest the client declared (x-amz-content-sha256,
 * Content-MD5, chunk signatures, trailer checksums), committed the blob and
 * then, in one meta transaction, the object row and its event. Any failure
 * aborts the writer, which deletes the temp file: a bad upload stores
 * nothing and an old object stays intact. Flexible checksums
 * (x-amz-checksum-*, s3_checksum.c) are computed over the decoded bytes on
 * the way and stored with the object.
 * Inline: a PutObject whose decoded length is declared (Content-Length, or
 * x-amz-decoded-content-length for aws-chunked) and at most cfg.inline_max
 * is buffered in memory instead (MD5 here, no writer) and committed as an
 * inline object row (meta.h): one durable commit instead of the blob's
 * fsyncs then the commit. A body that outgrows the threshold after all
 * spills into a writer and continues as a blob. Parts are always blobs. */
#include "iam/iam.h"
#include "s3/s3_internal.h"
#include "s3/s3_policy.h"
#include "s3/s3_post.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>

typedef struct {
    int kind;                 /* S3_STREAM_PUT (see s3_post.h) */
    ct_s3 *s;
    s3_target t;
    ct_store_writer *w;
    ct_chunked *chunked;
    EVP_MD_CTX *sha;          /* when the client declared a hex payload hash */
    ct_err err;
    int part_number;          /* UploadPart: 1..10000; 0 for PutObject */
    char upload_id[64];
    char *upload_meta;        /* UploadPart: the upload's meta_json (checksum algorithm) */
    int notify;               /* the bucket has a notification configuration */
    s3_cksum ck;
    int inlining;             /* the body goes to inl (no writer) */
    ct_buf inl;
    EVP_MD_CTX *md5;          /* inline: the ETag */
} put_state;

static const char *const stored_headers[] = {
    "Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language", "Expires",
};

static void add_user_meta(void *ctx, const char *name, const char *value)
{
    if (strncasecmp(name, "x-amz-meta-", 11) != 0)
        return;
    char lower[256];
    size_t n = strlen(name);
    if (n >= sizeof lower)
        return;
    for (size_t i = 0; i <= n; i++)
        lower[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    json_object_set_new(ctx, lower, json_string(value));
}

/* Content-Encoding without the aws-chunked transfer coding, which S3 never
 * stores ("aws-chunked,gzip" is stored as "gzip"); NULL when nothing is left. */
static json_t *stored_encoding(const char *v)
{
    ct_buf b = CT_BUF_INIT;
    while (*v) {
        v += strspn(v, " \t,");
        size_t n = strcspn(v, ",");
        size_t t = n;
        while (t && (v[t - 1] == ' ' || v[t - 1] == '\t'))
            t--;
        if (t && !(t == 11 && strncasecmp(v, "aws-chunked", 11) == 0)) {
            if (b.len)
                ct_buf_puts(&b, ",");
            ct_buf_append(&b, v, t);
        }
        v += n;
    }
    json_t *j = b.len && b.data ? json_stringn(b.data, b.len) : NULL;
    ct_buf_free(&b);
    return j;
}

/* Collects the headers S3 stores with an object. Heap JSON or NULL. */
char *s3_collect_meta(const ct_http_req *req)
{
    json_t *o = json_object();
    for (size_t i = 0; i < CT_ARRAY_LEN(stored_headers); i++) {
        const char *v = ct_http_header(req, stored_headers[i]);
        json_t *j = !v ? NULL
                    : strcmp(stored_headers[i], "Content-Encoding") == 0 ? stored_encoding(v)
                                                                         : json_string(v);
        if (j)
            json_object_set_new(o, stored_headers[i], j);
    }
    ct_http_each_header(req, add_user_meta, o);
    char *s = json_object_size(o) ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return s;
}

static void state_free(put_state *st)
{
    if (!st)
        return;
    ct_store_writer_abort(st->w);
    ct_chunked_free(st->chunked);
    EVP_MD_CTX_free(st->sha);
    EVP_MD_CTX_free(st->md5);
    ct_buf_free(&st->inl);
    s3_cksum_free(&st->ck);
    free(st->upload_meta);
    s3_target_free(&st->t);
    free(st);
}

/* True when every query parameter is a presigned-URL parameter (X-Amz-*),
 * part of UploadPart or the JS SDK's x-id=PutObject|UploadPart: no
 * sub-resource such as ?acl or ?tagging. */
static int query_is_upload(const char *q)
{
    while (*q) {
        size_t n = strcspn(q, "&");
        size_t k = strcspn(q, "=&");
        int ok = (k >= 6 && strncasecmp(q, "x-amz-", 6) == 0) ||
                 (k == 4 && strncmp(q, "x-id", 4) == 0) ||
                 (k == 8 && strncmp(q, "uploadId", 8) == 0) ||
                 (k == 10 && strncmp(q, "partNumber", 10) == 0);
        if (!ok)
            return 0;
        q += n;
        if (*q == '&')
            q++;
    }
    return 1;
}

int ct_s3_wants_stream(ct_s3 *s, const ct_http_req *req)
{
    if (s3_post_wanted(s, req))
        return 1;
    if (strcmp(req->method, "PUT") != 0 || ct_http_header(req, "x-amz-copy-source") ||
        !query_is_upload(req->query))
        return 0;
    if (ct_http_query_has(req, "uploadId") != ct_http_query_has(req, "partNumber"))
        return 0;
    const char *p = req->path[0] == '/' ? req->path + 1 : req->path;
    if (ct_s3_is_virtual_host(s, req))
        return *p != '\0';
    const char *slash = strchr(p, '/');
    return slash && slash[1];
}

static int chunked_mode(const char *declared, ct_chunked_mode *mode)
{
    if (!declared)
        return 0;
    if (strcmp(declared, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD") == 0)
        *mode = CT_CHUNKED_SIGNED;
    else if (strcmp(declared, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER") == 0)
        *mode = CT_CHUNKED_SIGNED_TRAILER;
    else if (strcmp(declared, "STREAMING-UNSIGNED-PAYLOAD-TRAILER") == 0)
        *mode = CT_CHUNKED_UNSIGNED_TRAILER;
    else
        return 0;
    return 1;
}

static int part_checks(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, put_state *st)
{
    char *id = ct_http_query(req, "uploadId");
    char *pn = ct_http_query(req, "partNumber");
    char *end = NULL;
    long n = pn ? strtol(pn, &end, 10) : 0;
    int ok = 0;
    if (!pn || !*pn || *end || n < 1 || n > 10000) {
        ct_s3_error(resp, req, "InvalidArgument",
                    "Part number must be an integer between 1 and 10000, inclusive");
        goto cleanup;
    }
    ct_meta_upload u;
    if (!id || strlen(id) >= sizeof st->upload_id ||
        ct_meta_upload_get(s->meta, id, &u) != CT_OK) {
        ct_s3_error(resp, req, "NoSuchUpload", "The specified upload does not exist. The upload "
                    "ID may be invalid, or the upload may have been aborted or completed.");
        goto cleanup;
    }
    ok = strcmp(u.bucket, st->t.bucket) == 0 && strcmp(u.key, st->t.key) == 0;
    st->upload_meta = u.meta_json;
    u.meta_json = NULL;
    ct_meta_upload_free(&u);
    if (!ok) {
        ct_s3_error(resp, req, "NoSuchUpload", "The specified upload does not exist.");
        goto cleanup;
    }
    st->part_number = (int)n;
    snprintf(st->upload_id, sizeof st->upload_id, "%s", id);
cleanup:
    free(id);
    free(pn);
    return ok;
}

static int begin_checks(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, put_state *st)
{
    if (req->auth_err) {
        ct_s3_auth_error(resp, req);
        return 0;
    }
    if (s3_parse_target(s, req, &st->t) || !st->t.key) {
        ct_s3_error(resp, req, "InvalidURI", "Couldn't parse the specified URI.");
        return 0;
    }
    if (!s3_authorize(s, req, &st->t)) {
        ct_s3_error(resp, req, "AccessDenied", "Access Denied");
        return 0;
    }
    if (st->t.key_len > 1024) {
        ct_s3_error(resp, req, "KeyTooLongError", "Your key is too long");
        return 0;
    }
    ct_meta_bucket b;
    ct_err e = ct_meta_bucket_get(s->meta, st->t.bucket, &b);
    if (e) {
        if (e == CT_ERR_NOT_FOUND)
            ct_s3_error(resp, req, "NoSuchBucket", "The specified bucket does not exist");
        else
            s3_internal_error(resp, req, e);
        return 0;
    }
    st->notify = b.notification_json != NULL;
    ct_meta_bucket_free(&b);
    return ct_http_query_has(req, "uploadId") ? part_checks(s, req, resp, st) : 1;
}

/* The decoded body's declared length is at most the inline threshold. */
static int inline_wanted(ct_s3 *s, const ct_http_req *req, const put_state *st, int chunked)
{
    const char *len = ct_http_header(req, chunked ? "x-amz-decoded-content-length"
                                                  : "Content-Length");
    char *end = NULL;
    if (st->part_number || !s->cfg.inline_max || !len || !*len || *len == '-')
        return 0;
    unsigned long long n = strtoull(len, &end, 10);
    return !*end && n <= s->cfg.inline_max;
}

static ct_err inline_begin(put_state *st)
{
    if (!(st->md5 = EVP_MD_CTX_new()) || !EVP_DigestInit_ex(st->md5, ct_md5_md(), NULL))
        return CT_ERR_NOMEM;
    st->inlining = 1;
    return CT_OK;
}

/* The body outgrew the threshold (a declared length that lied): what was
 * buffered goes to a writer, which takes over (and its own MD5). */
static ct_err inline_spill(put_state *st)
{
    ct_err e = ct_store_writer_open(st->s->store, &st->w);
    if (!e && st->inl.len)
        e = ct_store_writer_write(st->w, st->inl.data, st->inl.len);
    ct_buf_free(&st->inl);
    st->inlining = 0;
    return e;
}

void *ct_s3_stream_begin(ct_s3 *s, ct_http_req *req, ct_http_resp *resp)
{
    if (s3_post_wanted(s, req))
        return s3_post_begin(s, req, resp);
    put_state *st = calloc(1, sizeof *st);
    if (!st) {
        s3_internal_error(resp, req, CT_ERR_NOMEM);
        return NULL;
    }
    st->kind = S3_STREAM_PUT;
    st->s = s;
    if (!begin_checks(s, req, resp, st))
        goto fail;
    const char *declared = ct_http_header(req, "x-amz-content-sha256");
    ct_chunked_mode mode = CT_CHUNKED_SIGNED; /* set when chunked */
    int chunked = chunked_mode(declared, &mode);
    ct_err e = inline_wanted(s, req, st, chunked)
                   ? inline_begin(st)
                   : ct_store_writer_open(s->store, &st->w);
    if (e) {
        s3_internal_error(resp, req, e);
        goto fail;
    }
    if (s3_cksum_begin(&st->ck, req, resp, chunked && mode != CT_CHUNKED_SIGNED,
                       st->part_number != 0, st->upload_meta))
        goto fail;
    if (chunked) {
        st->chunked = ct_chunked_new(mode, req->sig_key, req->sig_seed, req->sig_amz_date,
                                     req->sig_scope, ct_http_header(req, "x-amz-trailer"));
        if (!st->chunked) {
            s3_internal_error(resp, req, CT_ERR_NOMEM);
            goto fail;
        }
    } else if (declared && strlen(declared) == 64) {
        st->sha = EVP_MD_CTX_new();
        EVP_DigestInit_ex(st->sha, EVP_sha256(), NULL);
    }
    return st;
fail:
    state_free(st);
    return NULL;
}

static ct_err sink_to_writer(void *ctx, const void *p, size_t n)
{
    put_state *st = ctx;
    s3_cksum_data(&st->ck, p, n);
    if (st->inlining && st->inl.len + n > st->s->cfg.inline_max) {
        ct_err e = inline_spill(st);
        if (e)
            return e;
    }
    if (st->inlining) {
        EVP_DigestUpdate(st->md5, p, n);
        return ct_buf_append(&st->inl, p, n);
    }
    return ct_store_writer_write(st->w, p, n);
}

ct_err ct_s3_stream_data(void *state, const char *p, size_t n)
{
    put_state *st = state;
    if (st->kind == S3_STREAM_POST)
        return s3_post_data(state, p, n);
    if (st->err)
        return st->err;
    if (st->chunked) {
        st->err = ct_chunked_feed(st->chunked, p, n, sink_to_writer, st);
    } else {
        if (st->sha)
            EVP_DigestUpdate(st->sha, p, n);
        st->err = sink_to_writer(st, p, n);
    }
    return st->err;
}

void ct_s3_stream_abort(void *state)
{
    if (state && *(int *)state == S3_STREAM_POST)
        s3_post_abort(state);
    else
        state_free(state);
}

/* Every digest the client declared; 0 when all hold, else fills resp. */
static int verify_body(put_state *st, ct_http_req *req, ct_http_resp *resp,
                       const unsigned char md5[16])
{
    char msg[256] = "";
    if (st->chunked) {
        ct_err e = ct_chunked_finish(st->chunked, msg, sizeof msg);
        if (e == CT_ERR_AUTH) {
            ct_s3_error(resp, req, "SignatureDoesNotMatch", msg[0] ? msg : "chunk signature "
                                                                           "mismatch");
            return -1;
        }
        if (e == CT_ERR_DIGEST) {
            s3_cksum_trailer_error(&st->ck, req, resp, msg);
            return -1;
        }
        if (e) {
            ct_s3_error(resp, req, "IncompleteBody", msg[0] ? msg : "malformed aws-chunked body");
            return -1;
        }
        const char *dlen = ct_http_header(req, "x-amz-decoded-content-length");
        if (dlen && strtoull(dlen, NULL, 10) != ct_chunked_decoded(st->chunked)) {
            ct_s3_error(resp, req, "IncompleteBody", "You did not provide the number of bytes "
                                                     "specified by the Content-Length HTTP header");
            return -1;
        }
    }
    if (st->sha) {
        unsigned char d[32];
        unsigned int len = 32;
        char hex[65];
        EVP_DigestFinal_ex(st->sha, d, &len);
        ct_hex(d, 32, hex);
        if (strcmp(hex, ct_http_header(req, "x-amz-content-sha256")) != 0) {
            ct_s3_error(resp, req, "XAmzContentSHA256Mismatch", "The provided "
                        "'x-amz-content-sha256' header does not match what was computed.");
            return -1;
        }
    }
    const char *cmd5 = ct_http_header(req, "Content-MD5");
    if (cmd5) {
        char *b64 = ct_b64_encode(md5, 16);
        int ok = b64 && strcmp(b64, cmd5) == 0;
        free(b64);
        if (!ok) {
            ct_s3_error(resp, req, strlen(cmd5) == 24 ? "BadDigest" : "InvalidDigest",
                        "The Content-MD5 you specified did not match what we received.");
            return -1;
        }
    }
    return s3_cksum_end(&st->ck, req, resp);
}

static void finish_part(put_state *st, ct_http_req *req, ct_http_resp *resp, const char *id,
                        const char *etag, uint64_t size)
{
    ct_meta_part p = {.part_number = st->part_number, .size = size};
    char old[64], quoted[48];
    memcpy(p.blob_id, id, sizeof p.blob_id);
    memcpy(p.etag, etag, 33);
    ct_err e = ct_meta_part_put(st->s->meta, st->upload_id, &p, old);
    if (e) {
        ct_store_remove(st->s->store, id);
        if (e == CT_ERR_NOT_FOUND)
            ct_s3_error(resp, req, "NoSuchUpload", "The specified upload does not exist.");
        else
            s3_internal_error(resp, req, e);
        return;
    }
    if (old[0])
        ct_store_remove(st->s->store, old);
    snprintf(quoted, sizeof quoted, "\"%s\"", etag);
    ct_http_resp_header(resp, "ETag", quoted);
    s3_cksum_headers(resp, &st->ck, 1);
    resp->status = 200;
}

static void remove_blob(ct_s3 *s, const char *id)
{
    if (id[0])
        ct_store_remove(s->store, id);
}

static void stream_error(put_state *st, ct_http_req *req, ct_http_resp *resp, ct_err e)
{
    if (e == CT_ERR_AUTH)
        ct_s3_error(resp, req, "SignatureDoesNotMatch", "The chunk signature does not match");
    else if (e == CT_ERR_INVALID)
        ct_s3_error(resp, req, "IncompleteBody", "malformed aws-chunked body");
    else if (e == CT_ERR_DIGEST)
        s3_cksum_trailer_error(&st->ck, req, resp, NULL);
    else
        s3_internal_error(resp, req, e);
}

void ct_s3_stream_end(void *state, ct_http_req *req, ct_http_resp *resp)
{
    put_state *st = state;
    if (!st) {
        s3_internal_error(resp, req, CT_ERR_NOMEM);
        return;
    }
    if (st->kind == S3_STREAM_POST) {
        s3_post_end(state, req, resp);
        return;
    }
    ct_s3 *s = st->s;
    char id[CT_BLOB_ID_MAX], old[64], etag[40];
    unsigned char md5[16];
    ct_err e = req->stream_err ? req->stream_err : st->err;
    if (e) {
        stream_error(st, req, resp, e);
        goto cleanup;
    }
    uint64_t size;
    if (st->inlining) { /* nothing to make durable before the commit */
        size = st->inl.len;
        id[0] = '\0';
        EVP_DigestFinal_ex(st->md5, md5, NULL);
    } else {
        size = ct_store_writer_size(st->w);
        e = ct_store_writer_commit(st->w, id, md5);
        st->w = NULL;
        if (e) {
            s3_internal_error(resp, req, e);
            goto cleanup;
        }
    }
    if (verify_body(st, req, resp, md5)) {
        remove_blob(s, id);
        goto cleanup;
    }
    ct_hex(md5, 16, etag);
    if (st->part_number) {
        finish_part(st, req, resp, id, etag, size);
        goto cleanup;
    }
    const char *ctype = ct_http_header(req, "Content-Type");
    char *user_meta = s3_collect_meta(req);
    char *meta_json = s3_cksum_meta(user_meta, st->ck.algo, st->ck.value, "FULL_OBJECT");
    free(user_meta);
    ct_meta_object o = {.bucket = st->t.bucket, .key = st->t.key, .size = size,
                        .content_type = (char *)(ctype ? ctype : "binary/octet-stream"),
                        .meta_json = meta_json, .mtime_ms = ct_now_ms()};
    memcpy(o.blob_id, id, sizeof o.blob_id);
    memcpy(o.etag, etag, sizeof etag);
    o.is_inline = st->inlining;
    o.inline_data = (unsigned char *)st->inl.data;
    o.inline_len = st->inl.len;
    ct_meta_event_info ev = {"ObjectCreated:Put", s3_principal_id(req), req->client_ip,
                             req->request_id};
    ct_meta_put_cond cond;
    if (s3_put_cond(req, &cond)) {
        remove_blob(s, id);
        free(meta_json);
        ct_s3_error(resp, req, "NotImplemented", "If-None-Match on PUT supports only '*'.");
        goto cleanup;
    }
    /* No outbox row (and no dispatcher commit) for a bucket that notifies
     * nothing: its event would be dropped at dispatch anyway. */
    e = ct_meta_object_put_if(s->meta, &o, st->notify ? &ev : NULL, &cond, old);
    free(meta_json);
    if (e) {
        remove_blob(s, id);
        s3_put_error(resp, req, e);
        goto cleanup;
    }
    if (old[0])
        ct_store_remove(s->store, old);
    char quoted[48];
    snprintf(quoted, sizeof quoted, "\"%s\"", etag);
    ct_http_resp_header(resp, "ETag", quoted);
    s3_cksum_headers(resp, &st->ck, 0);
    resp->status = 200;
cleanup:
    state_free(st);
}

int s3_put_cond(const ct_http_req *req, ct_meta_put_cond *c)
{
    const char *inm = ct_http_header(req, "If-None-Match");
    memset(c, 0, sizeof *c);
    c->if_match = ct_http_header(req, "If-Match");
    if (inm) {
        if (strcmp(inm, "*") != 0)
            return -1;
        c->if_none_match_star = 1;
    }
    return 0;
}

void s3_put_error(ct_http_resp *resp, const ct_http_req *req, ct_err e)
{
    if (e == CT_ERR_NOT_FOUND)
        ct_s3_error(resp, req, "NoSuchBucket", "The specified bucket does not exist");
    else if (e == CT_ERR_PRECONDITION)
        ct_s3_error(resp, req, "PreconditionFailed",
                    "At least one of the pre-conditions you specified did not hold");
    else
        s3_internal_error(resp, req, e);
}
