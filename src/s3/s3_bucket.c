/* s3_bucket.c: bucket operations and object listings. */
#include "s3/s3_internal.h"
#include "s3/s3_policy.h"

#include <string.h>

#define XML_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define S3_NS "http://s3.amazonaws.com/doc/2006-03-01/"

static void xml_ok(ct_http_resp *resp)
{
    resp->status = 200;
    ct_http_resp_header(resp, "Content-Type", "application/xml");
}

static ct_err add_bucket(void *ctx, const ct_meta_bucket *b)
{
    ct_buf *x = ctx;
    char ts[32];
    ct_time_iso8601(b->created_ms, ts);
    ct_buf_puts(x, "<Bucket><Name>");
    ct_xml_escape(x, b->name);
    return ct_buf_printf(x, "</Name><CreationDate>%s</CreationDate></Bucket>", ts);
}

void s3_list_buckets(ct_s3 *s, ct_http_req *req, ct_http_resp *resp)
{
    ct_buf *x = &resp->body;
    ct_buf_printf(x, XML_HEAD "<ListAllMyBucketsResult xmlns=\"" S3_NS "\"><Owner><ID>%s</ID>"
                  "<DisplayName>%s</DisplayName></Owner><Buckets>",
                  s->account_id, s->account_id);
    ct_err e = ct_meta_bucket_list(s->meta, add_bucket, x);
    if (e) {
        s3_internal_error(resp, req, e);
        return;
    }
    ct_buf_puts(x, "</Buckets></ListAllMyBucketsResult>");
    xml_ok(resp);
}

static void bucket_create(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const char *name)
{
    if (!s3_bucket_name_valid(name)) {
        ct_s3_error(resp, req, "InvalidBucketName", "The specified bucket is not valid.");
        return;
    }
    if (req->body_len) {
        char msg[256];
        ct_xml_node *root = NULL;
        if (ct_xml_parse(req->body, req->body_len, &root, msg, sizeof msg)) {
            ct_s3_error(resp, req, "MalformedXML", msg);
            return;
        }
        const char *loc = ct_xml_child_text(root, "LocationConstraint");
        int bad = loc && loc[0] && strcmp(loc, s->region) != 0;
        ct_xml_free(root);
        if (bad) {
            ct_s3_error(resp, req, "IllegalLocationConstraintException",
                        "The specified location-constraint is not valid for this endpoint.");
            resp->status = 400;
            return;
        }
    }
    ct_err e = ct_meta_bucket_create(s->meta, name);
    if (e == CT_ERR_EXISTS) {
        /* One account owns every bucket here. */
        ct_s3_error(resp, req, "BucketAlreadyOwnedByYou",
                    "Your previous request to create the named bucket succeeded and you already "
                    "own it.");
        return;
    }
    if (e) {
        s3_internal_error(resp, req, e);
        return;
    }
    char loc[300];
    snprintf(loc, sizeof loc, "/%s", name);
    ct_http_resp_header(resp, "Location", loc);
    resp->status = 200;
}

static void bucket_delete(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const char *name)
{
    ct_err e = ct_meta_bucket_delete(s->meta, name);
    if (e == CT_ERR_CONFLICT)
        ct_s3_error(resp, req, "BucketNotEmpty", "The bucket you tried to delete is not empty");
    else if (e == CT_ERR_NOT_FOUND)
        ct_s3_error(resp, req, "NoSuchBucket", "The specified bucket does not exist");
    else if (e)
        s3_internal_error(resp, req, e);
    else
        resp->status = 204;
}

/* ---- listings ---- */

typedef struct {
    ct_buf *x;
    const char *prefix;
    const char *delimiter;
    int url_encode;
    int max;
    int count;             /* keys + common prefixes emitted */
    int truncated;
    char *last;            /* last key or prefix emitted (continuation) */
    char *skip_after;      /* after a common prefix: skip keys below this */
    ct_buf prefixes;       /* CommonPrefixes XML */
    int v2;
    int versions;          /* ListObjectVersions */
    int rows_seen;         /* rows of the current batch */
    char *last_seen;       /* last key of the current batch */
} list_ctx;

#define LIST_BATCH 1000

static void emit_text(list_ctx *c, ct_buf *b, const char *s)
{
    if (c->url_encode)
        ct_uri_encode(b, s, strlen(s), 1);
    else
        ct_xml_escape(b, s);
}

static void set_last(list_ctx *c, const char *s, size_t n)
{
    free(c->last);
    c->last = strndup(s, n);
}

static ct_err list_row(void *ctx, const ct_meta_object *o)
{
    list_ctx *c = ctx;
    c->rows_seen++;
    free(c->last_seen);
    c->last_seen = strdup(o->key);
    if (c->skip_after && strcmp(o->key, c->skip_after) <= 0)
        return CT_OK;
    if (c->count >= c->max) {
        c->truncated = 1;
        return CT_ERR_CANCELED; /* stop iterating */
    }
    size_t plen = strlen(c->prefix);
    const char *d = c->delimiter && *c->delimiter ? strstr(o->key + plen, c->delimiter) : NULL;
    if (d) {
        size_t cp_len = (size_t)(d - o->key) + strlen(c->delimiter);
        ct_buf_puts(&c->prefixes, "<CommonPrefixes><Prefix>");
        char *cp = strndup(o->key, cp_len);
        emit_text(c, &c->prefixes, cp);
        ct_buf_puts(&c->prefixes, "</Prefix></CommonPrefixes>");
        /* Everything sharing this prefix sorts below prefix + 0xFF. */
        free(c->skip_after);
        c->skip_after = malloc(cp_len + 2);
        memcpy(c->skip_after, cp, cp_len);
        c->skip_after[cp_len] = '\xff';
        c->skip_after[cp_len + 1] = '\0';
        set_last(c, cp, cp_len);
        free(cp);
        c->count++;
        return CT_OK;
    }
    char ts[32];
    ct_time_iso8601(o->mtime_ms, ts);
    const char *el = c->versions ? "Version" : "Contents";
    ct_buf_printf(c->x, "<%s><Key>", el);
    emit_text(c, c->x, o->key);
    ct_buf_puts(c->x, "</Key>");
    if (c->versions) /* unversioned bucket: every object is the "null" version */
        ct_buf_puts(c->x, "<VersionId>null</VersionId><IsLatest>true</IsLatest>");
    ct_buf_printf(c->x, "<LastModified>%s</LastModified><ETag>&quot;%s&quot;</ETag>"
                        "<Size>%llu</Size><StorageClass>STANDARD</StorageClass></%s>",
                  ts, o->etag, (unsigned long long)o->size, el);
    set_last(c, o->key, strlen(o->key));
    c->count++;
    return CT_OK;
}

static ct_err list_run(ct_s3 *s, const char *bucket, list_ctx *c, const char *after)
{
    /* Batches, because a common prefix may swallow many rows. */
    char *cursor = strdup(after ? after : "");
    ct_err e = CT_OK;
    while (cursor) {
        const char *from = c->skip_after && strcmp(c->skip_after, cursor) > 0 ? c->skip_after
                                                                                : cursor;
        c->rows_seen = 0;
        e = ct_meta_object_list(s->meta, bucket, c->prefix, from, LIST_BATCH, list_row, c);
        if (e == CT_ERR_CANCELED) {
            e = CT_OK;
            break;
        }
        if (e || c->rows_seen < LIST_BATCH)
            break;
        free(cursor);
        cursor = strdup(c->last_seen);
    }
    free(cursor);
    return e;
}

static int parse_max_keys(ct_http_req *req, int *max)
{
    char *v = ct_http_query(req, "max-keys");
    *max = 1000;
    if (!v)
        return 0;
    char *end;
    long n = strtol(v, &end, 10);
    int bad = *v == '\0' || *end != '\0' || n < 0;
    free(v);
    if (bad)
        return -1;
    *max = n > 1000 ? 1000 : (int)n;
    return 0;
}

static void list_objects(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const char *bucket,
                         int v2, int versions)
{
    ct_meta_bucket b;
    ct_err e = ct_meta_bucket_get(s->meta, bucket, &b);
    if (e) {
        if (e == CT_ERR_NOT_FOUND)
            ct_s3_error(resp, req, "NoSuchBucket", "The specified bucket does not exist");
        else
            s3_internal_error(resp, req, e);
        return;
    }
    ct_meta_bucket_free(&b);
    list_ctx c;
    memset(&c, 0, sizeof c);
    c.v2 = v2;
    c.versions = versions;
    char *prefix = ct_http_query(req, "prefix");
    char *delim = ct_http_query(req, "delimiter");
    char *enc = ct_http_query(req, "encoding-type");
    char *token = v2 ? ct_http_query(req, "continuation-token") : NULL;
    char *start = ct_http_query(req, v2 ? "start-after" : versions ? "key-marker" : "marker");
    c.prefix = prefix ? prefix : "";
    c.delimiter = delim;
    c.url_encode = enc && strcmp(enc, "url") == 0;
    if (parse_max_keys(req, &c.max)) {
        ct_s3_error(resp, req, "InvalidArgument", "Provided max-keys not an integer or within "
                                                  "integer range");
        goto cleanup;
    }
    char *after = NULL;
    if (token) {
        long n;
        unsigned char *raw = malloc(strlen(token) + 4);
        n = raw ? ct_b64_decode(token, strlen(token), raw) : -1;
        if (n < 0) {
            free(raw);
            ct_s3_error(resp, req, "InvalidArgument", "The continuation token provided is "
                                                      "incorrect");
            goto cleanup;
        }
        after = strndup((char *)raw, (size_t)n);
        free(raw);
    } else if (start) {
        after = strdup(start);
    }
    ct_buf *x = &resp->body;
    c.x = &(ct_buf)CT_BUF_INIT;
    if (after && c.delimiter && *c.delimiter) {
        /* Resuming after a common prefix: skip the rest of it. */
        size_t plen = strlen(c.prefix);
        if (strlen(after) > plen && strstr(after + plen, c.delimiter) &&
            strcmp(after + strlen(after) - strlen(c.delimiter), c.delimiter) == 0) {
            size_t n = strlen(after);
            c.skip_after = malloc(n + 2);
            memcpy(c.skip_after, after, n);
            c.skip_after[n] = '\xff';
            c.skip_after[n + 1] = '\0';
        }
    }
    if (c.max > 0)
        e = list_run(s, bucket, &c, after);
    free(after);
    if (e) {
        s3_internal_error(resp, req, e);
        goto contents_free;
    }
    const char *root = versions ? "ListVersionsResult" : "ListBucketResult";
    ct_buf_printf(x, XML_HEAD "<%s xmlns=\"" S3_NS "\"><Name>", root);
    ct_xml_escape(x, bucket);
    ct_buf_puts(x, "</Name><Prefix>");
    emit_text(&c, x, c.prefix);
    ct_buf_puts(x, "</Prefix>");
    if (v2) {
        ct_buf_printf(x, "<KeyCount>%d</KeyCount>", c.count);
        if (token)
            ct_buf_printf(x, "<ContinuationToken>%s</ContinuationToken>", token);
        if (start) {
            ct_buf_puts(x, "<StartAfter>");
            emit_text(&c, x, start);
            ct_buf_puts(x, "</StartAfter>");
        }
        if (c.truncated && c.last) {
            char *t = ct_b64_encode((unsigned char *)c.last, strlen(c.last));
            ct_buf_printf(x, "<NextContinuationToken>%s</NextContinuationToken>", t);
            free(t);
        }
    } else if (versions) {
        ct_buf_puts(x, "<KeyMarker>");
        if (start)
            emit_text(&c, x, start);
        ct_buf_puts(x, "</KeyMarker><VersionIdMarker></VersionIdMarker>");
        if (c.truncated && c.last) {
            ct_buf_puts(x, "<NextKeyMarker>");
            emit_text(&c, x, c.last);
            ct_buf_puts(x, "</NextKeyMarker><NextVersionIdMarker>null</NextVersionIdMarker>");
        }
    } else {
        ct_buf_puts(x, "<Marker>");
        if (start)
            emit_text(&c, x, start);
        ct_buf_puts(x, "</Marker>");
        if (c.truncated && c.last && c.delimiter) {
            ct_buf_puts(x, "<NextMarker>");
            emit_text(&c, x, c.last);
            ct_buf_puts(x, "</NextMarker>");
        }
    }
    ct_buf_printf(x, "<MaxKeys>%d</MaxKeys>", c.max);
    if (c.delimiter) {
        ct_buf_puts(x, "<Delimiter>");
        emit_text(&c, x, c.delimiter);
        ct_buf_puts(x, "</Delimiter>");
    }
    if (c.url_encode)
        ct_buf_puts(x, "<EncodingType>url</EncodingType>");
    ct_buf_printf(x, "<IsTruncated>%s</IsTruncated>", c.truncated ? "true" : "false");
    if (c.x->data)
        ct_buf_append(x, c.x->data, c.x->len);
    if (c.prefixes.data)
        ct_buf_append(x, c.prefixes.data, c.prefixes.len);
    ct_buf_printf(x, "</%s>", root);
    xml_ok(resp);
contents_free:
    ct_buf_free(c.x);
cleanup:
    ct_buf_free(&c.prefixes);
    free(c.last);
    free(c.skip_after);
    free(c.last_seen);
    free(prefix);
    free(delim);
    free(enc);
    free(token);
    free(start);
}

static void get_location(ct_s3 *s, ct_http_req *req, ct_http_resp *resp)
{
    /* us-east-1 is reported as an empty constraint, as S3 does. */
    const char *loc = strcmp(s->region, "us-east-1") == 0 ? "" : s->region;
    ct_buf_printf(&resp->body,
                  XML_HEAD "<LocationConstraint xmlns=\"" S3_NS "\">%s</LocationConstraint>", loc);
    xml_ok(resp);
}

static int bucket_exists(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const char *name)
{
    ct_meta_bucket b;
    ct_err e = ct_meta_bucket_get(s->meta, name, &b);
    if (e == CT_ERR_NOT_FOUND) {
        ct_s3_error(resp, req, "NoSuchBucket", "The specified bucket does not exist");
        return 0;
    }
    if (e) {
        s3_internal_error(resp, req, e);
        return 0;
    }
    ct_meta_bucket_free(&b);
    return 1;
}

void s3_delete_objects(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const char *bucket);

void s3_bucket_op(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const s3_target *t)
{
    const char *m = req->method;
    if (ct_http_query_has(req, "policy") || ct_http_query_has(req, "policyStatus")) {
        s3_policy_op(s, req, resp, t->bucket);
    } else if (strcmp(m, "PUT") == 0 && ct_http_query_has(req, "notification")) {
        s3_notification_put(s, req, resp, t->bucket);
    } else if (strcmp(m, "PUT") == 0 && req->query[0] == '\0') {
        bucket_create(s, req, resp, t->bucket);
    } else if (strcmp(m, "DELETE") == 0 && req->query[0] == '\0') {
        bucket_delete(s, req, resp, t->bucket);
    } else if (strcmp(m, "HEAD") == 0) {
        if (bucket_exists(s, req, resp, t->bucket)) {
            resp->status = 200;
            ct_http_resp_header(resp, "x-amz-bucket-region", s->region);
        }
    } else if (strcmp(m, "POST") == 0 && ct_http_query_has(req, "delete")) {
        s3_delete_objects(s, req, resp, t->bucket);
    } else if (strcmp(m, "GET") != 0) {
        ct_s3_error(resp, req, "NotImplemented",
                    "A header or query you provided implies functionality that is not "
                    "implemented.");
    } else if (!bucket_exists(s, req, resp, t->bucket)) {
        return;
    } else if (ct_http_query_has(req, "location")) {
        get_location(s, req, resp);
    } else if (ct_http_query_has(req, "notification")) {
        s3_notification_get(s, req, resp, t->bucket);
    } else if (ct_http_query_has(req, "versions")) {
        list_objects(s, req, resp, t->bucket, 0, 1);
    } else if (ct_http_query_has(req, "versioning")) {
        ct_buf_puts(&resp->body, XML_HEAD "<VersioningConfiguration xmlns=\"" S3_NS "\"/>");
        xml_ok(resp);
    } else if (ct_http_query_has(req, "uploads")) {
        s3_list_uploads(s, req, resp, t->bucket);
    } else {
        char *lt = ct_http_query(req, "list-type");
        int v2 = lt && strcmp(lt, "2") == 0;
        free(lt);
        list_objects(s, req, resp, t->bucket, v2, 0);
    }
}
