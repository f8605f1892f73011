/* s3_post.c: POST Object, the browser form upload (see s3_post.h). */
#include "s3/s3_post.h"
#include "s3/s3_policy.h"

#include <jansson.h>
#include <string.h>
#include <strings.h>

#define POST_MAX_FIELDS 200

typedef struct {
    int kind;                    /* S3_STREAM_POST: first, as in every stream state */
    ct_s3 *s;
    ct_http_req *req;            /* borrowed: alive until end/abort */
    s3_target t;
    char *bucket_policy;
    int notify;                  /* the bucket has a notification configuration */
    s3_form *form;
    s3_form_field fields[POST_MAX_FIELDS];
    int nfields;
    size_t field_bytes;
    ct_buf cur;                  /* value of the text field being read */
    char *cur_name;
    int in_file, file_seen, file_done;
    char *key;                   /* the key field, ${filename} expanded */
    ct_store_writer *w;
    int inlining;                /* the file goes to inl, no writer (inline object) */
    ct_buf inl;
    uint64_t size;
    s3_post_limits lim;
    const char *code;            /* S3 error code once refused, else NULL */
    char msg[400];
} post_state;

static void post_free(post_state *st)
{
    if (!st)
        return;
    for (int i = 0; i < st->nfields; i++) {
        free((char *)st->fields[i].name);
        free((char *)st->fields[i].value);
    }
    ct_store_writer_abort(st->w);
    ct_buf_free(&st->inl);
    s3_form_free(st->form);
    ct_buf_free(&st->cur);
    free(st->cur_name);
    free(st->key);
    free(st->bucket_policy);
    s3_target_free(&st->t);
    free(st);
}

static ct_err refuse(post_state *st, const char *code, const char *msg)
{
    if (!st->code) {
        st->code = code;
        snprintf(st->msg, sizeof st->msg, "%s", msg);
    }
    ct_store_writer_abort(st->w); /* stop storing at once */
    st->w = NULL;
    ct_buf_free(&st->inl);
    st->inlining = 0;
    return CT_ERR_DENIED;
}

static const char *field(const post_state *st, const char *name)
{
    for (int i = 0; i < st->nfields; i++)
        if (strcasecmp(st->fields[i].name, name) == 0)
            return st->fields[i].value;
    return NULL;
}

int s3_post_wanted(ct_s3 *s, const ct_http_req *req)
{
    const char *ct = ct_http_header(req, "Content-Type");
    if (strcmp(req->method, "POST") != 0 || req->query[0] || !ct ||
        strncasecmp(ct, "multipart/form-data", 19) != 0)
        return 0;
    const char *p = req->path[0] == '/' ? req->path + 1 : req->path;
    if (ct_s3_is_virtual_host(s, req))
        return *p == '\0';
    const char *slash = strchr(p, '/');
    return *p && (!slash || !slash[1]);
}

/* ---- authentication and the policy, when the file part begins ---- */

/* x-amz-credential "AKID/YYYYMMDD/region/s3/aws4_request". */
static int parse_credential(const char *cred, char *ak, size_t n, char date[9], char *region,
                            size_t rn)
{
    const char *p[5];
    size_t len[5];
    const char *c = cred;
    for (int i = 0; i < 5; i++) {
        p[i] = c;
        len[i] = strcspn(c, "/");
        c += len[i];
        if ((i < 4) != (*c == '/'))
            return -1;
        c += *c == '/';
    }
    if (!len[0] || len[0] >= n || len[1] != 8 || !len[2] || len[2] >= rn || len[3] != 2 ||
        memcmp(p[3], "s3", 2) != 0 || len[4] != 12 || memcmp(p[4], "aws4_request", 12) != 0)
        return -1;
    memcpy(ak, p[0], len[0]);
    ak[len[0]] = '\0';
    memcpy(date, p[1], 8);
    date[8] = '\0';
    memcpy(region, p[2], len[2]);
    region[len[2]] = '\0';
    return 0;
}

static ct_err check_signature(post_state *st, const char *policy_b64)
{
    const char *alg = field(st, "x-amz-algorithm"), *cred = field(st, "x-amz-credential");
    const char *date = field(st, "x-amz-date"), *sig = field(st, "x-amz-signature");
    char ak[128], day[9], region[32], secret[256];
    if (!alg || !cred || !date || !sig)
        return refuse(st, "InvalidArgument", "Bucket POST with a policy must contain the fields "
                      "x-amz-algorithm, x-amz-credential, x-amz-date and x-amz-signature");
    if (strcmp(alg, "AWS4-HMAC-SHA256") != 0)
        return refuse(st, "InvalidArgument", "x-amz-algorithm must be AWS4-HMAC-SHA256");
    if (parse_credential(cred, ak, sizeof ak, day, region, sizeof region) ||
        strncmp(date, day, 8) != 0)
        return refuse(st, "InvalidArgument", "x-amz-credential is malformed or does not match "
                      "x-amz-date");
    ct_principal pr;
    memset(&pr, 0, sizeof pr);
    if (!st->s->cfg.iam || ct_iam_secret(st->s->cfg.iam, ak, secret, sizeof secret, &pr))
        return refuse(st, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not "
                      "exist in our records.");
    unsigned char key[32], mac[32];
    char hex[65];
    ct_sigv4_signing_key(secret, day, region, "s3", key);
    explicit_bzero(secret, sizeof secret);
    ct_hmac_sha256(key, sizeof key, policy_b64, strlen(policy_b64), mac);
    ct_hex(mac, 32, hex);
    if (ct_consttime_cmp(hex, sig) != 0)
        return refuse(st, "SignatureDoesNotMatch", "The request signature we calculated does "
                      "not match the signature you provided. Check your key and signing method.");
    snprintf(pr.service, sizeof pr.service, "s3");
    snprintf(pr.region, sizeof pr.region, "%s", region);
    snprintf(pr.access_key, sizeof pr.access_key, "%s", ak);
    st->req->principal = pr;
    return CT_OK;
}

static ct_err check_policy(post_state *st, const char *policy_b64)
{
    size_t n = strlen(policy_b64);
    unsigned char *doc = malloc(n + 1);
    long dlen = doc ? ct_b64_decode(policy_b64, n, doc) : -1;
    ct_err e = CT_OK;
    if (dlen < 0) {
        e = refuse(st, "InvalidPolicyDocument", "Invalid Policy: Invalid Base64 encoding.");
        goto cleanup;
    }
    /* the key condition is checked on the key as stored */
    s3_form_field fs[POST_MAX_FIELDS];
    for (int i = 0; i < st->nfields; i++) {
        fs[i] = st->fields[i];
        if (strcasecmp(fs[i].name, "key") == 0)
            fs[i].value = st->key;
    }
    s3_post_input in = {fs, st->nfields, st->t.bucket, ct_now_ms() / 1000};
    char msg[300];
    if (s3_post_policy_check((const char *)doc, (size_t)dlen, &in, &st->lim, msg, sizeof msg))
        e = refuse(st, strncmp(msg, "Invalid Policy", 14) == 0 ? "InvalidPolicyDocument"
                                                                : "AccessDenied", msg);
cleanup:
    free(doc);
    return e;
}

/* ${filename} in the key becomes the file part's file name. */
static char *expand_key(const char *key, const char *filename)
{
    ct_buf b = CT_BUF_INIT;
    const char *m;
    while ((m = strstr(key, "${filename}")) != NULL) {
        ct_buf_append(&b, key, (size_t)(m - key));
        ct_buf_puts(&b, filename ? filename : "");
        key = m + 11;
    }
    ct_buf_puts(&b, key);
    ct_buf_append(&b, "", 0);
    return ct_buf_take(&b);
}

static ct_err file_begin(post_state *st, const char *filename)
{
    const char *key = field(st, "key");
    if (!key)
        return refuse(st, "InvalidArgument", "Bucket POST must contain a field named 'key'.  "
                      "If it is specified, please check the order of the fields.");
    if (!(st->key = expand_key(key, filename)))
        return refuse(st, "InternalError", "out of memory");
    if (!ct_utf8_valid(st->key, strlen(st->key)))
        return refuse(st, "InvalidArgument", "The key must be UTF-8 text");
    if (!st->key[0] || strlen(st->key) > 1024)
        return refuse(st, st->key[0] ? "KeyTooLongError" : "InvalidArgument",
                      st->key[0] ? "Your key is too long" : "The key must not be empty");
    if (field(st, "AWSAccessKeyId"))
        return refuse(st, "InvalidRequest", "Signature Version 2 is not supported; sign the "
                      "policy with AWS4-HMAC-SHA256.");
    const char *policy = field(st, "policy");
    ct_err e;
    if (policy || field(st, "x-amz-signature")) {
        if (!policy)
            return refuse(st, "InvalidArgument", "Bucket POST with x-amz-signature must "
                          "contain a field named 'policy'.");
        if ((e = check_signature(st, policy)) || (e = check_policy(st, policy)))
            return e;
    }
    if (!s3_allowed_key(st->s, st->req, "s3:PutObject", st->t.bucket, st->key,
                        st->bucket_policy))
        return refuse(st, "AccessDenied", "Access Denied");
    /* The file's length is not known: buffered while it fits the inline
     * threshold, then spilled into a writer (file_write). */
    if (st->s->cfg.inline_max)
        st->inlining = 1;
    else if ((e = ct_store_writer_open(st->s->store, &st->w)))
        return refuse(st, "InternalError", ct_err_str(e));
    return CT_OK;
}

static ct_err file_write(post_state *st, const char *p, size_t n)
{
    ct_err e = CT_OK;
    if (st->inlining && st->inl.len + n > st->s->cfg.inline_max) {
        if (!(e = ct_store_writer_open(st->s->store, &st->w)) && st->inl.len)
            e = ct_store_writer_write(st->w, st->inl.data, st->inl.len);
        ct_buf_free(&st->inl);
        st->inlining = 0;
    }
    if (e)
        return e;
    return st->inlining ? ct_buf_append(&st->inl, p, n) : ct_store_writer_write(st->w, p, n);
}

/* ---- form callbacks ---- */

static ct_err on_begin(void *ctx, const char *name, const char *filename, const char *ctype)
{
    post_state *st = ctx;
    (void)ctype; /* S3 takes the object's type from the Content-Type field */
    if (st->file_seen)
        return CT_OK; /* fields after the file are ignored */
    if (strcmp(name, "file") == 0) {
        st->file_seen = st->in_file = 1;
        return file_begin(st, filename);
    }
    if (st->nfields >= POST_MAX_FIELDS)
        return refuse(st, "MaxPostPreDataLengthExceeded", "Your POST request fields preceeding "
                      "the upload file was too large.");
    free(st->cur_name);
    ct_buf_reset(&st->cur);
    st->cur_name = strdup(name);
    st->field_bytes += strlen(name);
    return st->cur_name ? CT_OK : refuse(st, "InternalError", "out of memory");
}

static ct_err on_data(void *ctx, const char *p, size_t n)
{
    post_state *st = ctx;
    if (st->in_file) {
        st->size += n;
        if (st->lim.max_len >= 0 && st->size > (uint64_t)st->lim.max_len)
            return refuse(st, "EntityTooLarge", "Your proposed upload exceeds the maximum "
                          "allowed size");
        ct_err e = file_write(st, p, n);
        return e ? refuse(st, e == CT_ERR_NOSPC ? "InsufficientStorage" : "InternalError",
                          ct_err_str(e)) : CT_OK;
    }
    if (st->file_seen)
        return CT_OK;
    st->field_bytes += n;
    if (st->field_bytes > S3_FORM_MAX_FIELDS)
        return refuse(st, "MaxPostPreDataLengthExceeded", "Your POST request fields preceeding "
                      "the upload file was too large.");
    return ct_buf_append(&st->cur, p, n) ? refuse(st, "InternalError", "out of memory") : CT_OK;
}

static ct_err on_end(void *ctx)
{
    post_state *st = ctx;
    if (st->in_file) {
        st->in_file = 0;
        st->file_done = 1;
        return CT_OK;
    }
    if (st->file_seen)
        return CT_OK;
    if (ct_buf_append(&st->cur, "", 0))
        return refuse(st, "InternalError", "out of memory");
    if (strlen(st->cur.data) != st->cur.len)
        return refuse(st, "InvalidArgument", "a form field holds a NUL byte");
    st->fields[st->nfields].name = st->cur_name;
    st->fields[st->nfields].value = ct_buf_take(&st->cur);
    st->nfields++;
    st->cur_name = NULL;
    return CT_OK;
}

/* ---- the stream ---- */

void *s3_post_begin(ct_s3 *s, ct_http_req *req, ct_http_resp *resp)
{
    post_state *st = calloc(1, sizeof *st);
    if (!st) {
        s3_internal_error(resp, req, CT_ERR_NOMEM);
        return NULL;
    }
    st->kind = S3_STREAM_POST;
    st->s = s;
    st->req = req;
    st->lim.max_len = -1;
    st->cur.max = S3_FORM_MAX_FIELDS + 1;
    char msg[160];
    static const s3_form_cb cb = {on_begin, on_data, on_end};
    ct_meta_bucket b;
    ct_err e;
    if (req->auth_err) {
        ct_s3_auth_error(resp, req);
    } else if (s3_parse_target(s, req, &st->t) || st->t.key) {
        ct_s3_error(resp, req, "InvalidURI", "Couldn't parse the specified URI.");
    } else if ((e = ct_meta_bucket_get(s->meta, st->t.bucket, &b))) {
        if (e == CT_ERR_NOT_FOUND)
            ct_s3_error(resp, req, "NoSuchBucket", "The specified bucket does not exist");
        else
            s3_internal_error(resp, req, e);
    } else {
        st->bucket_policy = b.policy_json;
        st->notify = b.notification_json != NULL;
        b.policy_json = NULL;
        ct_meta_bucket_free(&b);
        st->form = s3_form_new(ct_http_header(req, "Content-Type"), &cb, st, msg, sizeof msg);
        if (st->form)
            return st;
        ct_s3_error(resp, req, "MalformedPOSTRequest", msg);
    }
    post_free(st);
    return NULL;
}

ct_err s3_post_data(void *state, const char *p, size_t n)
{
    post_state *st = state;
    ct_err e = s3_form_feed(st->form, p, n);
    if (e == CT_ERR_INVALID && !st->code)
        refuse(st, "MalformedPOSTRequest", s3_form_msg(st->form));
    return e;
}

void s3_post_abort(void *state) { post_free(state); }

/* Content-Type, Cache-Control, ..., x-amz-meta-* fields as the object's
 * stored headers (meta_json). Heap or NULL. */
static char *fields_meta(const post_state *st)
{
    static const char *const stored[] = {"Cache-Control", "Content-Disposition",
                                         "Content-Encoding", "Content-Language", "Expires"};
    json_t *o = json_object();
    for (size_t i = 0; i < CT_ARRAY_LEN(stored); i++) {
        const char *v = field(st, stored[i]);
        if (v)
            json_object_set_new(o, stored[i], json_string(v));
    }
    for (int i = 0; i < st->nfields; i++) {
        if (strncasecmp(st->fields[i].name, "x-amz-meta-", 11) != 0)
            continue;
        char *lower = strdup(st->fields[i].name);
        for (char *c = lower; c && *c; c++)
            *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
        if (lower)
            json_object_set_new(o, lower, json_string(st->fields[i].value));
        free(lower);
    }
    char *s = json_object_size(o) ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return s;
}

/* http[s]://Host/bucket/key (path style) or http[s]://bucket.domain/key. */
static void object_url(const post_state *st, ct_buf *u)
{
    const char *host = ct_http_header(st->req, "Host");
    ct_buf_printf(u, "%s://%s/", st->req->secure ? "https" : "http", host ? host : "localhost");
    if (!ct_s3_is_virtual_host(st->s, st->req)) {
        ct_uri_encode(u, st->t.bucket, strlen(st->t.bucket), 0);
        ct_buf_puts(u, "/");
    }
    ct_uri_encode(u, st->key, strlen(st->key), 1);
}

static void redirect_to(post_state *st, ct_http_resp *resp, const char *target,
                        const char *etag)
{
    ct_buf loc = CT_BUF_INIT;
    ct_buf_printf(&loc, "%s%cbucket=", target, strchr(target, '?') ? '&' : '?');
    ct_uri_encode(&loc, st->t.bucket, strlen(st->t.bucket), 0);
    ct_buf_puts(&loc, "&key=");
    ct_uri_encode(&loc, st->key, strlen(st->key), 0);
    ct_buf_printf(&loc, "&etag=%%22%s%%22", etag);
    if (loc.data && ct_http_resp_header(resp, "Location", loc.data) == CT_OK)
        resp->status = 303;
    else
        ct_s3_error(resp, st->req, "InvalidArgument", "success_action_redirect is invalid");
    ct_buf_free(&loc);
}

/* S3's answers: 303 to success_action_redirect, else success_action_status
 * 200, 201 (with a PostResponse document) or 204 (the default). */
static void respond(post_state *st, ct_http_resp *resp, const char *etag)
{
    char quoted[48];
    snprintf(quoted, sizeof quoted, "\"%s\"", etag);
    ct_http_resp_header(resp, "ETag", quoted);
    const char *redirect = field(st, "success_action_redirect");
    redirect = redirect ? redirect : field(st, "redirect");
    if (redirect && *redirect) {
        redirect_to(st, resp, redirect, etag);
        return;
    }
    ct_buf url = CT_BUF_INIT;
    object_url(st, &url);
    ct_http_resp_header(resp, "Location", url.data ? url.data : "");
    const char *status = field(st, "success_action_status");
    if (status && strcmp(status, "201") == 0) {
        ct_buf *x = &resp->body;
        ct_buf_puts(x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse><Location>");
        ct_xml_escape(x, url.data ? url.data : "");
        ct_buf_puts(x, "</Location><Bucket>");
        ct_xml_escape(x, st->t.bucket);
        ct_buf_puts(x, "</Bucket><Key>");
        ct_xml_escape(x, st->key);
        ct_buf_printf(x, "</Key><ETag>&quot;%s&quot;</ETag></PostResponse>", etag);
        ct_http_resp_header(resp, "Content-Type", "application/xml");
        resp->status = 201;
    } else {
        resp->status = status && strcmp(status, "200") == 0 ? 200 : 204;
    }
    ct_buf_free(&url);
}

static void commit(post_state *st, ct_http_resp *resp)
{
    ct_s3 *s = st->s;
    char id[CT_BLOB_ID_MAX], old[64], etag[40];
    unsigned char md5[16];
    ct_err e = CT_OK;
    if (st->inlining) {
        id[0] = '\0';
        ct_md5(st->inl.data ? st->inl.data : "", st->inl.len, md5);
    } else {
        e = ct_store_writer_commit(st->w, id, md5);
        st->w = NULL;
    }
    if (e) {
        s3_internal_error(resp, st->req, e);
        return;
    }
    ct_hex(md5, 16, etag);
    const char *ctype = field(st, "Content-Type");
    char *meta_json = fields_meta(st);
    ct_meta_object o = {.bucket = st->t.bucket, .key = st->key, .size = st->size,
                        .content_type = (char *)(ctype ? ctype : "binary/octet-stream"),
                        .meta_json = meta_json, .mtime_ms = ct_now_ms()};
    memcpy(o.blob_id, id, sizeof o.blob_id);
    memcpy(o.etag, etag, sizeof etag);
    o.is_inline = st->inlining;
    o.inline_data = (unsigned char *)st->inl.data;
    o.inline_len = st->inl.len;
    ct_meta_event_info ev = {"ObjectCreated:Post", s3_principal_id(st->req),
                             st->req->client_ip, st->req->request_id};
    e = ct_meta_object_put(s->meta, &o, st->notify ? &ev : NULL, old);
    free(meta_json);
    if (e) {
        if (id[0])
            ct_store_remove(s->store, id);
        s3_put_error(resp, st->req, e);
        return;
    }
    if (old[0])
        ct_store_remove(s->store, old);
    respond(st, resp, etag);
}

void s3_post_end(void *state, ct_http_req *req, ct_http_resp *resp)
{
    post_state *st = state;
    if (!st->code && !req->stream_err && s3_form_finish(st->form))
        refuse(st, "MalformedPOSTRequest", s3_form_msg(st->form));
    if (!st->code && !st->file_done)
        refuse(st, "InvalidArgument", "POST requires exactly one file upload per request.");
    if (!st->code && st->size < (uint64_t)st->lim.min_len)
        refuse(st, "EntityTooSmall", "Your proposed upload is smaller than the minimum "
               "allowed size");
    if (st->code)
        ct_s3_error(resp, req, st->code, st->msg);
    else if (req->stream_err)
        s3_internal_error(resp, req, req->stream_err);
    else
        commit(st, resp);
    post_free(st);
}
