/* s3_multipart.c: Create/Complete/Abort multipart uploads, ListParts and
 * ListMultipartUploads. (UploadPart streams through s3_put.c.)
 *
 * DESIGN: parts are ordinary blobs recorded in meta's parts table. Complete
 * validates the client's part list (order, ETags, 5 MiB minimum), composes
 * one new blob from the parts by in-kernel copies (copy_file_range: a
 * reflink where the filesystem shares extents; no MD5, since the ETag is
 * built from the parts' MD5s; one read pass for the checksums), and
 * commits the object and its ObjectCreated:CompleteMultipartUpload event
 * in one transaction; only then
 * are the part blobs and the upload removed. The ETag is S3's:
 * hex(md5(md5(part1) || ... || md5(partN)))-N. */
#include "s3/s3_internal.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define XML_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define S3_NS "http://s3.amazonaws.com/doc/2006-03-01/"
#define MIN_PART_SIZE ((uint64_t)5 << 20)
#define MAX_PARTS 10000

static void xml_ok(ct_http_resp *resp)
{
    resp->status = 200;
    ct_http_resp_header(resp, "Content-Type", "application/xml");
}

static void no_such_upload(ct_http_resp *resp, const ct_http_req *req)
{
    ct_s3_error(resp, req, "NoSuchUpload", "The specified upload does not exist. The upload ID "
                "may be invalid, or the upload may have been aborted or completed.");
}

static void bucket_key_xml(ct_buf *x, const char *bucket, const char *key)
{
    ct_buf_puts(x, "<Bucket>");
    ct_xml_escape(x, bucket);
    ct_buf_puts(x, "</Bucket><Key>");
    ct_xml_escape(x, key);
    ct_buf_puts(x, "</Key>");
}

static void create_upload(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const s3_target *t)
{
    ct_meta_upload u = {.bucket = (char *)t->bucket, .key = t->key,
                        .content_type = (char *)ct_http_header(req, "Content-Type"),
                        .meta_json = s3_collect_meta(req)};
    if (s3_cksum_create(req, resp, &u.meta_json)) {
        free(u.meta_json);
        return;
    }
    ct_random_hex(u.upload_id, 48);
    ct_err e = ct_meta_upload_create(s->meta, &u);
    if (!e)
        s3_cksum_create_headers(resp, u.meta_json);
    free(u.meta_json);
    if (e == CT_ERR_NOT_FOUND) {
        ct_s3_error(resp, req, "NoSuchBucket", "The specified bucket does not exist");
        return;
    }
    if (e) {
        s3_internal_error(resp, req, e);
        return;
    }
    ct_buf *x = &resp->body;
    ct_buf_puts(x, XML_HEAD "<InitiateMultipartUploadResult xmlns=\"" S3_NS "\">");
    bucket_key_xml(x, t->bucket, t->key);
    ct_buf_printf(x, "<UploadId>%s</UploadId></InitiateMultipartUploadResult>", u.upload_id);
    xml_ok(resp);
}

/* Loads the upload and checks it belongs to this bucket/key. */
static int load_upload(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const s3_target *t,
                       ct_meta_upload *u)
{
    char *id = ct_http_query(req, "uploadId");
    ct_err e = id ? ct_meta_upload_get(s->meta, id, u) : CT_ERR_NOT_FOUND;
    free(id);
    if (e == CT_OK && strcmp(u->bucket, t->bucket) == 0 && strcmp(u->key, t->key) == 0)
        return 1;
    if (e == CT_OK)
        ct_meta_upload_free(u);
    if (e && e != CT_ERR_NOT_FOUND)
        s3_internal_error(resp, req, e);
    else
        no_such_upload(resp, req);
    return 0;
}

/* ---- collecting parts ---- */

typedef struct {
    ct_meta_part *v;
    int n;
} part_vec;

static ct_err collect_part(void *ctx, const ct_meta_part *p)
{
    part_vec *pv = ctx;
    if (pv->n >= MAX_PARTS)
        return CT_ERR_TOO_LARGE;
    pv->v[pv->n++] = *p;
    return CT_OK;
}

static ct_err load_parts(ct_s3 *s, const char *upload_id, part_vec *pv)
{
    pv->v = calloc(MAX_PARTS, sizeof *pv->v);
    pv->n = 0;
    if (!pv->v)
        return CT_ERR_NOMEM;
    return ct_meta_part_list(s->meta, upload_id, 0, MAX_PARTS, collect_part, pv);
}

static const ct_meta_part *find_part(const part_vec *pv, int number)
{
    for (int i = 0; i < pv->n; i++)
        if (pv->v[i].part_number == number)
            return &pv->v[i];
    return NULL;
}

static void remove_parts(ct_s3 *s, const part_vec *pv)
{
    for (int i = 0; i < pv->n; i++)
        ct_store_remove(s->store, pv->v[i].blob_id);
}

/* ---- complete ---- */

static int etag_equal(const char *client, const char *stored)
{
    size_t n = strlen(client);
    if (n >= 2 && client[0] == '"' && client[n - 1] == '"')
        return n - 2 == strlen(stored) && strncasecmp(client + 1, stored, n - 2) == 0;
    return strcasecmp(client, stored) == 0;
}

/* Validates the request's part list; fills chosen[] in order. Returns the
 * S3 error code or NULL. */
static const char *choose_parts(const ct_xml_node *root, const part_vec *have,
                                const ct_meta_part **chosen, int *n)
{
    int last = 0;
    *n = 0;
    for (ct_xml_node *p = root->first_child; p; p = p->next) {
        if (strcmp(p->name, "Part") != 0)
            continue;
        const char *num = ct_xml_child_text(p, "PartNumber");
        const char *etag = ct_xml_child_text(p, "ETag");
        int number = num ? atoi(num) : 0;
        if (!num || !etag || number < 1 || number > MAX_PARTS || *n >= MAX_PARTS)
            return "MalformedXML";
        if (number <= last)
            return "InvalidPartOrder";
        const ct_meta_part *mp = find_part(have, number);
        if (!mp || !etag_equal(etag, mp->etag))
            return "InvalidPart";
        chosen[(*n)++] = mp;
        last = number;
    }
    if (*n == 0)
        return "MalformedXML";
    for (int i = 0; i + 1 < *n; i++)
        if (chosen[i]->size < MIN_PART_SIZE)
            return "EntityTooSmall";
    return NULL;
}

/* Feeds ck (per-part and whole-object checksums) one part's bytes; the
 * part was just copied, so they come from the page cache. */
static ct_err cksum_part(int fd, s3_mpu_cksum *ck, char *buf, size_t cap)
{
    off_t off = 0;
    for (;;) {
        ssize_t r = pread(fd, buf, cap, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return CT_ERR_IO;
        if (r == 0)
            return s3_mpu_cksum_part_end(ck) ? CT_ERR_DIGEST : CT_OK;
        s3_mpu_cksum_data(ck, buf, (size_t)r);
        off += r;
    }
}

/* Composes the new blob from the parts by in-kernel copies (no MD5: the
 * ETag is built from the parts' MD5s); CT_ERR_DIGEST when a part's
 * checksum differs from the request's. */
static ct_err concat_parts(ct_s3 *s, const ct_meta_part **chosen, int n, char id[64],
                           uint64_t *size, char etag[48], s3_mpu_cksum *ck)
{
    enum { CHUNK = 1 << 20 };
    ct_store_writer *w = NULL;
    ct_err e = ct_store_writer_open_nomd5(s->store, &w);
    unsigned char *md5s = malloc((size_t)n * 16), whole[16];
    char *buf = malloc(CHUNK);
    if (!e && (!md5s || !buf))
        e = CT_ERR_NOMEM;
    if (e)
        goto fail;
    for (int i = 0; i < n; i++) {
        ct_unhex(chosen[i]->etag, 32, md5s + 16 * i);
        int fd;
        uint64_t len;
        if ((e = ct_store_open_read(s->store, chosen[i]->blob_id, &fd, &len)))
            goto fail;
        e = ct_store_writer_copy_fd(w, fd, len);
        if (!e)
            e = cksum_part(fd, ck, buf, CHUNK);
        close(fd);
        if (e)
            goto fail;
    }
    if (s3_mpu_cksum_end(ck)) {
        e = CT_ERR_DIGEST;
        goto fail;
    }
    *size = ct_store_writer_size(w);
    e = ct_store_writer_commit(w, id, whole);
    w = NULL;
    if (e)
        goto fail;
    unsigned char d[16];
    ct_md5(md5s, (size_t)n * 16, d);
    ct_hex(d, 16, etag);
    snprintf(etag + 32, 16, "-%d", n);
fail:
    ct_store_writer_abort(w);
    free(buf);
    free(md5s);
    return e;
}

static void complete_result(ct_http_resp *resp, const char *bucket, const char *key,
                            const char *etag, const s3_mpu_cksum *ck)
{
    ct_buf *x = &resp->body;
    ct_buf_puts(x, XML_HEAD "<CompleteMultipartUploadResult xmlns=\"" S3_NS "\"><Location>/");
    ct_xml_escape(x, bucket);
    ct_buf_puts(x, "/");
    ct_xml_escape(x, key);
    ct_buf_puts(x, "</Location>");
    bucket_key_xml(x, bucket, key);
    ct_buf_printf(x, "<ETag>&quot;%s&quot;</ETag>", etag);
    if (ck)
        s3_mpu_cksum_xml(x, ck);
    ct_buf_puts(x, "</CompleteMultipartUploadResult>");
    xml_ok(resp);
}

/* A Complete for an upload that was already completed answers that result
 * again (S3 does), as long as the object still has that ETag. */
static int completed_again(ct_s3 *s, const ct_http_req *req, ct_http_resp *resp,
                           const s3_target *t)
{
    char *id = ct_http_query(req, "uploadId"), bucket[64], etag[80], *key = NULL;
    int done = 0;
    ct_meta_object o;
    if (id && ct_meta_upload_completed_get(s->meta, id, bucket, &key, etag) == CT_OK &&
        strcmp(bucket, t->bucket) == 0 && strcmp(key, t->key) == 0 &&
        ct_meta_object_get(s->meta, t->bucket, t->key, &o) == CT_OK) {
        done = strcmp(o.etag, etag) == 0;
        ct_meta_object_free(&o);
        if (done)
            complete_result(resp, t->bucket, t->key, etag, NULL);
    }
    free(key);
    free(id);
    return done;
}

static void complete_upload(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const s3_target *t)
{
    ct_meta_upload u;
    if (completed_again(s, req, resp, t))
        return;
    if (!load_upload(s, req, resp, t, &u))
        return;
    part_vec have = {0};
    const ct_meta_part **chosen = NULL;
    ct_xml_node *root = NULL;
    s3_mpu_cksum ck = {0};
    char msg[256], id[64], etag[48], old[64], *meta_json = NULL;
    uint64_t size = 0;
    int n = 0;
    ct_err e = load_parts(s, u.upload_id, &have);
    if (e) {
        s3_internal_error(resp, req, e);
        goto cleanup;
    }
    if (ct_xml_parse(req->body, req->body_len, &root, msg, sizeof msg) ||
        strcmp(root->name, "CompleteMultipartUpload") != 0) {
        ct_s3_error(resp, req, "MalformedXML", "The XML you provided was not well-formed or did "
                                               "not validate against our published schema");
        goto cleanup;
    }
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): chosen is an array of pointers */
    chosen = calloc(MAX_PARTS, sizeof *chosen);
    const char *code = chosen ? choose_parts(root, &have, chosen, &n) : "InternalError";
    if (code) {
        ct_s3_error(resp, req, code,
                    strcmp(code, "EntityTooSmall") == 0
                        ? "Your proposed upload is smaller than the minimum allowed object size."
                    : strcmp(code, "InvalidPartOrder") == 0
                        ? "The list of parts was not in ascending order. Parts must be ordered "
                          "by part number."
                        : "One or more of the specified parts could not be found. The part may "
                          "not have been uploaded, or the specified entity tag may not match "
                          "the part's entity tag.");
        goto cleanup;
    }
    if ((code = s3_mpu_cksum_begin(&ck, req, u.meta_json, root, n))) {
        ct_s3_error(resp, req, code, ck.msg);
        goto cleanup;
    }
    if ((e = concat_parts(s, chosen, n, id, &size, etag, &ck))) {
        if (e == CT_ERR_DIGEST)
            ct_s3_error(resp, req, ck.code, ck.msg);
        else
            s3_internal_error(resp, req, e);
        goto cleanup;
    }
    meta_json = s3_mpu_cksum_meta(&ck, u.meta_json);
    ct_meta_object o = {.bucket = u.bucket, .key = u.key, .size = size,
                        .content_type = u.content_type ? u.content_type : "binary/octet-stream",
                        .meta_json = meta_json, .mtime_ms = ct_now_ms()};
    memcpy(o.blob_id, id, sizeof o.blob_id);
    snprintf(o.etag, sizeof o.etag, "%s", etag);
    ct_meta_event_info ev = {"ObjectCreated:CompleteMultipartUpload", s3_principal_id(req),
                             req->client_ip, req->request_id};
    ct_meta_put_cond cond;
    s3_put_cond(req, &cond); /* If-None-Match other than '*' is ignored here */
    if ((e = ct_meta_object_put_if(s->meta, &o, &ev, &cond, old))) {
        ct_store_remove(s->store, id);
        s3_put_error(resp, req, e);
        goto cleanup;
    }
    if (old[0])
        ct_store_remove(s->store, old);
    /* Remembered so that a retried Complete answers the same ETag. */
    ct_meta_upload_completed_put(s->meta, u.upload_id, u.bucket, u.key, etag);
    ct_meta_upload_delete(s->meta, u.upload_id);
    remove_parts(s, &have);
    complete_result(resp, u.bucket, u.key, etag, &ck);
cleanup:
    s3_mpu_cksum_free(&ck);
    free(meta_json);
    ct_xml_free(root);
    free(chosen);
    free(have.v);
    ct_meta_upload_free(&u);
}

static void abort_upload(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const s3_target *t)
{
    ct_meta_upload u;
    if (!load_upload(s, req, resp, t, &u))
        return;
    part_vec have = {0};
    ct_err e = load_parts(s, u.upload_id, &have);
    if (!e)
        e = ct_meta_upload_delete(s->meta, u.upload_id);
    if (e) {
        s3_internal_error(resp, req, e);
    } else {
        remove_parts(s, &have);
        resp->status = 204;
    }
    free(have.v);
    ct_meta_upload_free(&u);
}

static void list_parts(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const s3_target *t)
{
    ct_meta_upload u;
    if (!load_upload(s, req, resp, t, &u))
        return;
    part_vec have = {0};
    ct_err e = load_parts(s, u.upload_id, &have);
    if (e) {
        s3_internal_error(resp, req, e);
        goto cleanup;
    }
    ct_buf *x = &resp->body;
    ct_buf_puts(x, XML_HEAD "<ListPartsResult xmlns=\"" S3_NS "\">");
    bucket_key_xml(x, u.bucket, u.key);
    ct_buf_printf(x, "<UploadId>%s</UploadId><IsTruncated>false</IsTruncated>", u.upload_id);
    for (int i = 0; i < have.n; i++) {
        char ts[32];
        ct_time_iso8601(have.v[i].mtime_ms, ts);
        ct_buf_printf(x, "<Part><PartNumber>%d</PartNumber><LastModified>%s</LastModified>"
                         "<ETag>&quot;%s&quot;</ETag><Size>%llu</Size></Part>",
                      have.v[i].part_number, ts, have.v[i].etag,
                      (unsigned long long)have.v[i].size);
    }
    ct_buf_puts(x, "</ListPartsResult>");
    xml_ok(resp);
cleanup:
    free(have.v);
    ct_meta_upload_free(&u);
}

/* Copies [start, start+len) of o (its blob, or its inline bytes) into a
 * new blob; md5 of the copy. */
static ct_err copy_range(ct_s3 *s, const ct_meta_object *o, uint64_t start, uint64_t len,
                         char id[64], unsigned char md5[16])
{
    static __thread char chunk[1 << 16];
    int fd = -1;
    ct_store_writer *w = NULL;
    ct_err e;
    if ((e = ct_store_writer_open(s->store, &w)))
        goto cleanup;
    if (o->is_inline) {
        if (start + len > o->inline_len) {
            e = CT_ERR_INTERNAL;
            goto cleanup;
        }
        if ((e = ct_store_writer_write(w, o->inline_data + start, (size_t)len)))
            goto cleanup;
        len = 0;
    } else if ((e = ct_store_open_read(s->store, o->blob_id, &fd, NULL))) {
        goto cleanup;
    }
    while (len) {
        ssize_t r = pread(fd, chunk, len < sizeof chunk ? len : sizeof chunk, (off_t)start);
        if (r <= 0) {
            e = CT_ERR_IO;
            goto cleanup;
        }
        if ((e = ct_store_writer_write(w, chunk, (size_t)r)))
            goto cleanup;
        start += (uint64_t)r;
        len -= (uint64_t)r;
    }
    e = ct_store_writer_commit(w, id, md5);
    w = NULL;
cleanup:
    ct_store_writer_abort(w);
    if (fd >= 0)
        close(fd);
    return e;
}

/* UploadPartCopy: a part made of (a range of) another object. */
static void upload_part_copy(ct_s3 *s, ct_http_req *req, ct_http_resp *resp,
                             const s3_target *t)
{
    ct_meta_upload u;
    if (!load_upload(s, req, resp, t, &u))
        return;
    s3_target from = {0};
    ct_meta_object o = {0};
    char *pn = ct_http_query(req, "partNumber"), id[64], etag[33], old[64], ts[32];
    unsigned char md5[16];
    int number = pn ? atoi(pn) : 0;
    uint64_t start = 0, len;
    const char *range = ct_http_header(req, "x-amz-copy-source-range");
    if (number < 1 || number > MAX_PARTS) {
        ct_s3_error(resp, req, "InvalidArgument", "Part number must be an integer between 1 "
                                                  "and 10000, inclusive");
        goto cleanup;
    }
    ct_err pe = s3_parse_copy_source(ct_http_header(req, "x-amz-copy-source"), &from);
    if (pe) {
        ct_s3_error(resp, req, "InvalidArgument", s3_copy_source_error(pe));
        goto cleanup;
    }
    ct_err e = ct_meta_object_get(s->meta, from.bucket, from.key, &o);
    if (e) {
        if (e == CT_ERR_NOT_FOUND)
            ct_s3_error(resp, req, "NoSuchKey", "The specified key does not exist.");
        else
            s3_internal_error(resp, req, e);
        goto cleanup;
    }
    len = o.size;
    if (range) {
        uint64_t a, b;
        if (ct_range_parse(range, o.size, &a, &b) != CT_OK || strncmp(range, "bytes=", 6) ||
            range[6] == '-') {
            ct_s3_error(resp, req, "InvalidArgument", "The x-amz-copy-source-range value must "
                        "be of the form bytes=first-last where first and last are the "
                        "zero-based offsets of the first and last bytes to copy");
            goto cleanup;
        }
        start = a;
        len = b - a + 1;
    }
    if ((e = copy_range(s, &o, start, len, id, md5))) {
        s3_internal_error(resp, req, e);
        goto cleanup;
    }
    ct_hex(md5, 16, etag);
    ct_meta_part p = {.part_number = number, .size = len};
    memcpy(p.blob_id, id, sizeof p.blob_id);
    memcpy(p.etag, etag, sizeof etag);
    if ((e = ct_meta_part_put(s->meta, u.upload_id, &p, old))) {
        ct_store_remove(s->store, id);
        s3_internal_error(resp, req, e);
        goto cleanup;
    }
    if (old[0])
        ct_store_remove(s->store, old);
    ct_time_iso8601(ct_now_ms(), ts);
    ct_buf_printf(&resp->body, XML_HEAD "<CopyPartResult xmlns=\"" S3_NS "\"><LastModified>%s"
                  "</LastModified><ETag>&quot;%s&quot;</ETag></CopyPartResult>", ts, etag);
    xml_ok(resp);
cleanup:
    free(pn);
    ct_meta_object_free(&o);
    s3_target_free(&from);
    ct_meta_upload_free(&u);
}

void s3_multipart_op(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const s3_target *t)
{
    const char *m = req->method;
    if (strcmp(m, "POST") == 0 && ct_http_query_has(req, "uploads"))
        create_upload(s, req, resp, t);
    else if (strcmp(m, "POST") == 0)
        complete_upload(s, req, resp, t);
    else if (strcmp(m, "DELETE") == 0)
        abort_upload(s, req, resp, t);
    else if (strcmp(m, "GET") == 0)
        list_parts(s, req, resp, t);
    else if (strcmp(m, "PUT") == 0 && ct_http_header(req, "x-amz-copy-source"))
        upload_part_copy(s, req, resp, t);
    else
        ct_s3_error(resp, req, "NotImplemented", "A header or query you provided implies "
                                                 "functionality that is not implemented.");
}

static ct_err add_upload(void *ctx, const ct_meta_upload *u)
{
    ct_buf *x = ctx;
    char ts[32];
    ct_time_iso8601(u->created_ms, ts);
    ct_buf_puts(x, "<Upload><Key>");
    ct_xml_escape(x, u->key);
    return ct_buf_printf(x, "</Key><UploadId>%s</UploadId><Initiated>%s</Initiated>"
                            "<StorageClass>STANDARD</StorageClass></Upload>", u->upload_id, ts);
}

void s3_list_uploads(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const char *bucket)
{
    ct_buf *x = &resp->body;
    ct_buf_puts(x, XML_HEAD "<ListMultipartUploadsResult xmlns=\"" S3_NS "\"><Bucket>");
    ct_xml_escape(x, bucket);
    ct_buf_puts(x, "</Bucket><IsTruncated>false</IsTruncated>");
    ct_err e = ct_meta_upload_list(s->meta, bucket, add_upload, x);
    if (e) {
        ct_buf_reset(x);
        s3_internal_error(resp, req, e);
        return;
    }
    ct_buf_puts(x, "</ListMultipartUploadsResult>");
    xml_ok(resp);
}

typedef struct {
    ct_s3 *s;
    int aborted;
} stale_ctx;

static ct_err abort_stale(void *ctx, const ct_meta_upload *u)
{
    stale_ctx *c = ctx;
    part_vec have = {0};
    ct_err e = load_parts(c->s, u->upload_id, &have);
    if (!e && ct_meta_upload_delete(c->s->meta, u->upload_id) == CT_OK) {
        remove_parts(c->s, &have);
        c->aborted++;
        ct_info("s3: aborted stale multipart upload %s (s3://%s/%s)", u->upload_id, u->bucket,
                u->key);
    }
    free(have.v);
    return CT_OK;
}

int ct_s3_abort_stale_uploads(ct_s3 *s, int64_t max_age_ms)
{
    stale_ctx c = {s, 0};
    ct_meta_upload_list_older(s->meta, ct_now_ms() - max_age_ms, abort_stale, &c);
    return c.aborted;
}
