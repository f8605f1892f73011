/* s3_object.c: GetObject, HeadObject, DeleteObject(s), CopyObject. */
#include "s3/s3_internal.h"
#include "s3/s3_policy.h"

#include <jansson.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define XML_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define S3_NS "http://s3.amazonaws.com/doc/2006-03-01/"

static void no_such_key(ct_http_resp *resp, const ct_http_req *req)
{
    ct_s3_error(resp, req, "NoSuchKey", "The specified key does not exist.");
}

static void lookup_error(ct_s3 *s, ct_http_resp *resp, const ct_http_req *req,
                         const char *bucket, ct_err e)
{
    if (e != CT_ERR_NOT_FOUND) {
        s3_internal_error(resp, req, e);
        return;
    }
    ct_meta_bucket b;
    if (ct_meta_bucket_get(s->meta, bucket, &b) == CT_ERR_NOT_FOUND) {
        ct_s3_error(resp, req, "NoSuchBucket", "The specified bucket does not exist");
        return;
    }
    ct_meta_bucket_free(&b);
    no_such_key(resp, req);
}

/* 1 when the compact JSON object p ({"k":"v",...}, as PutObject writes it)
 * holds only x-amz-checksum-* keys; 0 for anything else, including escapes
 * or spaces, which are then parsed. */
static int only_checksum_keys(const char *p)
{
    if (*p++ != '{')
        return 0;
    if (*p == '}')
        return p[1] == '\0';
    for (;;) {
        if (*p++ != '"' || strncmp(p, "x-amz-checksum-", 15) != 0)
            return 0;
        for (int str = 0; str < 2; str++) { /* the key's rest, then the value */
            const char *q = strpbrk(p, "\"\\");
            if (!q || *q != '"')
                return 0;
            p = q + 1;
            if (str == 0 && (*p++ != ':' || *p++ != '"'))
                return 0;
        }
        if (*p == '}')
            return p[1] == '\0';
        if (*p++ != ',')
            return 0;
    }
}

/* Stored headers (content-disposition, cache-control, x-amz-meta-*, ...);
 * the stored x-amz-checksum-* only when checksums were asked for. Most
 * objects store only their checksum: that case skips the JSON parse (3 %
 * of a small GET). */
static void add_stored_headers(ct_http_resp *resp, const char *meta_json, int checksums)
{
    if (!meta_json || (!checksums && only_checksum_keys(meta_json)))
        return;
    json_t *root = json_loads(meta_json, 0, NULL);
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        if (!checksums && strncmp(k, "x-amz-checksum-", 15) == 0)
            continue;
        if (json_is_string(v))
            ct_http_resp_header(resp, k, json_string_value(v));
    }
    json_decref(root);
}

static void object_headers(ct_http_resp *resp, const ct_meta_object *o, int checksums)
{
    char etag[96], lm[40];
    size_t el = strnlen(o->etag, sizeof o->etag); /* "etag" without printf */
    etag[0] = '"';
    memcpy(etag + 1, o->etag, el);
    memcpy(etag + 1 + el, "\"", 2);
    ct_time_http(o->mtime_ms, lm);
    ct_http_resp_header(resp, "ETag", etag);
    ct_http_resp_header(resp, "Last-Modified", lm);
    ct_http_resp_header(resp, "Accept-Ranges", "bytes");
    ct_http_resp_header(resp, "Content-Type",
                        o->content_type ? o->content_type : "binary/octet-stream");
    add_stored_headers(resp, o->meta_json, checksums);
}

static int etag_matches(const char *list, const char *etag)
{
    if (strcmp(list, "*") == 0)
        return 1;
    char quoted[96];
    snprintf(quoted, sizeof quoted, "\"%s\"", etag);
    /* a comma-separated list of (possibly weak, possibly unquoted) tags */
    char *copy = strdup(list), *save = NULL;
    int hit = 0;
    for (char *t = strtok_r(copy, ",", &save); t && !hit; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        if (strncmp(t, "W/", 2) == 0)
            t += 2;
        size_t n = strlen(t);
        while (n && t[n - 1] == ' ')
            t[--n] = '\0';
        hit = strcmp(t, quoted) == 0 || strcmp(t, etag) == 0;
    }
    free(copy);
    return hit;
}

/* RFC 9110 §13.2.2 order. Returns 0 to proceed, else the status to send. */
static int check_conditions(const ct_http_req *req, const ct_meta_object *o)
{
    const char *im = ct_http_header(req, "If-Match");
    const char *inm = ct_http_header(req, "If-None-Match");
    const char *ims = ct_http_header(req, "If-Modified-Since");
    const char *ius = ct_http_header(req, "If-Unmodified-Since");
    int64_t mtime = o->mtime_ms / 1000;
    if (im && !etag_matches(im, o->etag))
        return 412;
    if (!im && ius) {
        int64_t t = ct_time_parse_http(ius);
        if (t >= 0 && mtime > t)
            return 412;
    }
    if (inm && etag_matches(inm, o->etag))
        return 304;
    if (!inm && ims) {
        int64_t t = ct_time_parse_http(ims);
        if (t >= 0 && mtime <= t)
            return 304;
    }
    return 0;
}

static void get_object(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const s3_target *t,
                       int head)
{
    ct_meta_object o;
    ct_err e = ct_meta_object_get(s->meta, t->bucket, t->key, &o);
    if (e) {
        lookup_error(s, resp, req, t->bucket, e);
        return;
    }
    int cond = check_conditions(req, &o);
    if (cond) {
        if (cond == 304) {
            resp->status = 304;
            object_headers(resp, &o, 0);
        } else {
            ct_s3_error(resp, req, "PreconditionFailed",
                        "At least one of the pre-conditions you specified did not hold");
        }
        goto cleanup;
    }
    uint64_t start = 0, end = o.size ? o.size - 1 : 0, len = o.size;
    const char *range = ct_http_header(req, "Range");
    int partial = 0;
    if (range) {
        e = ct_range_parse(range, o.size, &start, &end);
        if (e == CT_ERR_INVALID) {
            char cr[64];
            snprintf(cr, sizeof cr, "bytes */%llu", (unsigned long long)o.size);
            ct_s3_error(resp, req, "InvalidRange", "The requested range is not satisfiable");
            ct_http_resp_header(resp, "Content-Range", cr);
            goto cleanup;
        }
        if (e == CT_OK) {
            partial = 1;
            len = end - start + 1;
        }
    }
    /* S3 returns no checksum for a range: it would not match the bytes. */
    object_headers(resp, &o, !partial && s3_cksum_mode_enabled(req));
    if (partial) {
        char cr[96];
        snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu", (unsigned long long)start,
                 (unsigned long long)end, (unsigned long long)o.size);
        ct_http_resp_header(resp, "Content-Range", cr);
    }
    resp->status = partial ? 206 : 200;
    if (head) {
        resp->head_length = (int64_t)len;
        goto cleanup;
    }
    if (o.is_inline) { /* the bytes came with the row: no file to open */
        if (start == 0 && len == o.inline_len && !resp->body.data &&
            ct_buf_adopt(&resp->body, (char *)o.inline_data, (size_t)len) == CT_OK) {
            o.inline_data = NULL; /* the response owns it now */
            goto cleanup;
        }
        if (start + len > o.inline_len ||
            (len && ct_buf_append(&resp->body, o.inline_data + start, (size_t)len))) {
            resp->n_headers = 0;
            s3_internal_error(resp, req, start + len > o.inline_len ? CT_ERR_INTERNAL
                                                                     : CT_ERR_NOMEM);
        }
        goto cleanup;
    }
    int fd;
    uint64_t size;
    if ((e = ct_store_open_read(s->store, o.blob_id, &fd, &size))) {
        resp->n_headers = 0;
        s3_internal_error(resp, req, e);
        goto cleanup;
    }
    resp->fd = fd;
    resp->fd_offset = start;
    resp->fd_len = len;
cleanup:
    ct_meta_object_free(&o);
}

static void remove_old_blob(ct_s3 *s, const char *old_blob)
{
    if (old_blob[0] && ct_store_remove(s->store, old_blob) != CT_OK)
        ct_warn("s3: could not remove replaced blob %s", old_blob);
}

static ct_err delete_one(ct_s3 *s, const ct_http_req *req, const char *bucket, const char *key)
{
    char old[64];
    ct_meta_event_info ev = {"ObjectRemoved:Delete", s3_principal_id(req), req->client_ip,
                             req->request_id};
    ct_err e = ct_meta_object_delete(s->meta, bucket, key, &ev, old);
    if (e == CT_OK)
        remove_old_blob(s, old);
    return e == CT_ERR_NOT_FOUND ? CT_OK : e; /* S3 deletes are idempotent */
}

static void delete_object(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const s3_target *t)
{
    ct_meta_bucket b;
    ct_err e = ct_meta_bucket_get(s->meta, t->bucket, &b);
    if (e) {
        lookup_error(s, resp, req, t->bucket, e);
        return;
    }
    ct_meta_bucket_free(&b);
    if ((e = delete_one(s, req, t->bucket, t->key)))
        s3_internal_error(resp, req, e);
    else
        resp->status = 204;
}

static void delete_entry(ct_buf *x, const char *key, const char *code, const char *msg)
{
    ct_buf_puts(x, "<Error><Key>");
    ct_xml_escape(x, key);
    ct_buf_printf(x, "</Key><Code>%s</Code><Message>", code);
    ct_xml_escape(x, msg);
    ct_buf_puts(x, "</Message></Error>");
}

/* Each <Object>'s key: s3:DeleteObject decided for that key (a denied key
 * is an AccessDenied entry, the others are deleted); Quiet lists errors only. */
static int delete_keys(ct_s3 *s, ct_http_req *req, const ct_xml_node *root, const char *bucket,
                       const char *policy, ct_buf *x)
{
    const char *quiet = ct_xml_child_text(root, "Quiet");
    int is_quiet = quiet && strcasecmp(quiet, "true") == 0;
    int count = 0;
    for (const ct_xml_node *n = root->first_child; n; n = n->next)
        count += strcmp(n->name, "Object") == 0;
    if (count > 1000)
        return -1;
    for (const ct_xml_node *n = root->first_child; n; n = n->next) {
        const char *key = strcmp(n->name, "Object") == 0 ? ct_xml_child_text(n, "Key") : NULL;
        if (!key)
            continue;
        ct_err e = CT_OK;
        if (!s3_allowed_key(s, req, "s3:DeleteObject", bucket, key, policy))
            delete_entry(x, key, "AccessDenied", "Access Denied");
        else if ((e = delete_one(s, req, bucket, key)))
            delete_entry(x, key, "InternalError", ct_err_str(e));
        else if (!is_quiet) {
            ct_buf_puts(x, "<Deleted><Key>");
            ct_xml_escape(x, key);
            ct_buf_puts(x, "</Key></Deleted>");
        }
    }
    return 0;
}

void s3_delete_objects(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const char *bucket);
void s3_delete_objects(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const char *bucket)
{
    char msg[256];
    ct_xml_node *root = NULL;
    if (ct_xml_parse(req->body, req->body_len, &root, msg, sizeof msg) ||
        strcmp(root->name, "Delete") != 0) {
        ct_xml_free(root);
        ct_s3_error(resp, req, "MalformedXML", "The XML you provided was not well-formed or "
                                               "did not validate against our published schema");
        return;
    }
    ct_meta_bucket b;
    ct_err e = ct_meta_bucket_get(s->meta, bucket, &b);
    if (e) {
        ct_xml_free(root);
        lookup_error(s, resp, req, bucket, e);
        return;
    }
    ct_buf *x = &resp->body;
    ct_buf_puts(x, XML_HEAD "<DeleteResult xmlns=\"" S3_NS "\">");
    int rc = delete_keys(s, req, root, bucket, b.policy_json, x);
    ct_meta_bucket_free(&b);
    ct_xml_free(root);
    if (rc) {
        ct_buf_reset(x);
        ct_s3_error(resp, req, "MalformedXML", "You have attempted to delete more than "
                                               "1000 objects");
        return;
    }
    ct_buf_puts(x, "</DeleteResult>");
    resp->status = 200;
    ct_http_resp_header(resp, "Content-Type", "application/xml");
}

/* "/bucket/key" or "bucket/key" (URL-encoded), optionally "?versionId=null"
 * (buckets are unversioned: any other version id names nothing, and
 * ignoring it would copy the current object instead). */
ct_err s3_parse_copy_source(const char *src, s3_target *t)
{
    if (!src)
        return CT_ERR_INVALID;
    char *copy = strdup(src);
    if (!copy)
        return CT_ERR_NOMEM;
    char *q = strchr(copy, '?');
    if (q) {
        *q = '\0';
        if (strcmp(q + 1, "versionId=null") != 0) {
            free(copy);
            return CT_ERR_UNSUPPORTED;
        }
    }
    ct_buf path = CT_BUF_INIT;
    if (copy[0] != '/')
        ct_buf_puts(&path, "/");
    ct_buf_puts(&path, copy);
    ct_err e = path.data ? s3_parse_path(path.data, t) : CT_ERR_NOMEM;
    if (!e && !t->key)
        e = CT_ERR_INVALID;
    ct_buf_free(&path);
    free(copy);
    return e;
}

const char *s3_copy_source_error(ct_err e)
{
    return e == CT_ERR_UNSUPPORTED ? "Invalid version id specified"
                                   : "Copy Source must mention the source bucket and key: "
                                     "sourcebucket/sourcekey";
}

static void copy_object(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const s3_target *t,
                        const char *src);

void s3_object_op(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const s3_target *t)
{
    const char *m = req->method;
    if (t->key_len > 1024) {
        ct_s3_error(resp, req, "KeyTooLongError", "Your key is too long");
        return;
    }
    const char *copy_src = ct_http_header(req, "x-amz-copy-source");
    if (ct_http_query_has(req, "uploads") || ct_http_query_has(req, "uploadId"))
        s3_multipart_op(s, req, resp, t);
    else if (strcmp(m, "GET") == 0 && !ct_http_query_has(req, "uploadId") &&
             !ct_http_query_has(req, "acl") && !ct_http_query_has(req, "tagging"))
        get_object(s, req, resp, t, 0); /* response-* overrides etc. are ignored */
    else if (strcmp(m, "HEAD") == 0)
        get_object(s, req, resp, t, 1);
    else if (strcmp(m, "DELETE") == 0 && !ct_http_query_has(req, "uploadId"))
        delete_object(s, req, resp, t);
    else if (strcmp(m, "PUT") == 0 && copy_src && !ct_http_query_has(req, "uploadId"))
        copy_object(s, req, resp, t, copy_src);
    else
        ct_s3_error(resp, req, "NotImplemented", "A header or query you provided implies "
                                                 "functionality that is not implemented.");
}

ct_err s3_read_blob(ct_s3 *s, const char *blob_id, uint64_t size, unsigned char **out)
{
    int fd = -1;
    unsigned char *b = malloc(size ? (size_t)size : 1);
    ct_err e = b ? ct_store_open_read(s->store, blob_id, &fd, NULL) : CT_ERR_NOMEM;
    if (!e)
        e = ct_pread_all(fd, b, (size_t)size, 0); /* CT_ERR_IO: shorter than its row says */
    if (fd >= 0)
        close(fd);
    if (e)
        free(b);
    else
        *out = b;
    return e;
}

/* A new blob holding o's bytes (its blob or inline bytes); its id into id. */
static ct_err copy_to_blob(ct_s3 *s, const ct_meta_object *o, char id[CT_BLOB_ID_MAX])
{
    static __thread char chunk[1 << 16];
    int fd = -1;
    ct_store_writer *w = NULL;
    unsigned char md5[16];
    ct_err e = ct_store_writer_open(s->store, &w);
    if (!e && o->is_inline)
        e = ct_store_writer_write(w, o->inline_data, o->inline_len);
    else if (!e)
        e = ct_store_open_read(s->store, o->blob_id, &fd, NULL);
    while (!e && fd >= 0) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n <= 0) {
            e = n < 0 ? CT_ERR_IO : CT_OK;
            break;
        }
        e = ct_store_writer_write(w, chunk, (size_t)n);
    }
    if (!e) {
        e = ct_store_writer_commit(w, id, md5);
        w = NULL;
    }
    ct_store_writer_abort(w);
    if (fd >= 0)
        close(fd);
    return e;
}

static void copy_object(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const s3_target *t,
                        const char *src)
{
    s3_target from;
    ct_err pe = s3_parse_copy_source(src, &from);
    if (pe) {
        ct_s3_error(resp, req, "InvalidArgument", s3_copy_source_error(pe));
        return;
    }
    const char *directive = ct_http_header(req, "x-amz-metadata-directive");
    int replace = directive && strcmp(directive, "REPLACE") == 0;
    if (directive && !replace && strcmp(directive, "COPY") != 0) {
        ct_s3_error(resp, req, "InvalidArgument", "Unknown metadata directive.");
        s3_target_free(&from);
        return;
    }
    if (!replace && strcmp(from.bucket, t->bucket) == 0 && strcmp(from.key, t->key) == 0) {
        ct_s3_error(resp, req, "InvalidRequest", "This copy request is illegal because it is "
                    "trying to copy an object to itself without changing the object's "
                    "metadata, storage class, website redirect location or encryption "
                    "attributes.");
        s3_target_free(&from);
        return;
    }
    ct_meta_object o;
    ct_err e = ct_meta_object_get(s->meta, from.bucket, from.key, &o);
    if (e) {
        lookup_error(s, resp, req, from.bucket, e);
        s3_target_free(&from);
        return;
    }
    char *new_meta = NULL;
    unsigned char *bytes = NULL;
    char id[CT_BLOB_ID_MAX] = "", old[64];
    ct_meta_object no = o;
    if (o.size <= s->cfg.inline_max) { /* the copy is inline whatever the source */
        if (!o.is_inline && (e = s3_read_blob(s, o.blob_id, o.size, &bytes)))
            goto fail;
        no.is_inline = 1;
        no.inline_data = o.is_inline ? o.inline_data : bytes;
        no.inline_len = (size_t)o.size;
    } else {
        if ((e = copy_to_blob(s, &o, id)))
            goto fail;
        no.is_inline = 0;
        no.inline_data = NULL;
        no.inline_len = 0;
    }
    no.bucket = (char *)t->bucket;
    no.key = t->key;
    memcpy(no.blob_id, id, sizeof no.blob_id);
    no.mtime_ms = ct_now_ms();
    if (replace) { /* the request's headers become the copy's metadata */
        const char *ctype = ct_http_header(req, "Content-Type");
        no.content_type = (char *)(ctype ? ctype : "binary/octet-stream");
        no.meta_json = new_meta = s3_collect_meta(req);
    }
    ct_meta_event_info ev = {"ObjectCreated:Copy", s3_principal_id(req), req->client_ip,
                             req->request_id};
    if ((e = ct_meta_object_put(s->meta, &no, &ev, old))) {
        remove_old_blob(s, id);
        if (e == CT_ERR_NOT_FOUND) {
            ct_s3_error(resp, req, "NoSuchBucket", "The specified bucket does not exist");
            goto done;
        }
        goto fail;
    }
    remove_old_blob(s, old);
    char ts[32];
    ct_time_iso8601(no.mtime_ms, ts);
    ct_buf_printf(&resp->body, XML_HEAD "<CopyObjectResult xmlns=\"" S3_NS "\"><LastModified>%s"
                  "</LastModified><ETag>&quot;%s&quot;</ETag></CopyObjectResult>", ts, o.etag);
    resp->status = 200;
    ct_http_resp_header(resp, "Content-Type", "application/xml");
    goto done;
fail:
    s3_internal_error(resp, req, e);
done:
    free(new_meta);
    free(bytes);
    ct_meta_object_free(&o);
    s3_target_free(&from);
}
