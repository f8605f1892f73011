/* s3.c: opening the S3 service, parsing targets, routing. */
#include "s3/s3_internal.h"
#include "s3/s3_policy.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

ct_err ct_s3_open(const ct_s3_config *cfg, ct_meta *meta, ct_store *store, ct_s3 **out)
{
    ct_s3 *s = calloc(1, sizeof *s);
    if (!s)
        return CT_ERR_NOMEM;
    snprintf(s->region, sizeof s->region, "%s", cfg->region);
    snprintf(s->account_id, sizeof s->account_id, "%s", cfg->account_id);
    if (cfg->domain && *cfg->domain) {
        size_t n = strlen(cfg->domain);
        if (n >= sizeof s->domain) {
            free(s);
            return CT_ERR_INVALID;
        }
        for (size_t i = 0; i <= n; i++)
            s->domain[i] = (char)tolower((unsigned char)cfg->domain[i]);
        s->cfg.domain = s->domain;
    }
    s->cfg.region = s->region;
    s->cfg.account_id = s->account_id;
    s->cfg.iam = cfg->iam;
    s->cfg.inline_max = cfg->inline_max;
    s->meta = meta;
    s->store = store;
    *out = s;
    return CT_OK;
}

void ct_s3_close(ct_s3 *s) { free(s); }

void s3_target_free(s3_target *t)
{
    free(t->key);
    t->key = NULL;
}

static ct_err parse_key(const char *p, s3_target *t)
{
    t->key = ct_uri_decode(p, strlen(p), 0, &t->key_len);
    if (!t->key || t->key_len != strlen(t->key) || !ct_utf8_valid(t->key, t->key_len)) {
        s3_target_free(t);
        return CT_ERR_INVALID;
    }
    return CT_OK;
}

/* "/bucket/some%20key" -> bucket "bucket", key "some key". A key that
 * decodes to bytes containing NUL or to malformed UTF-8 is refused: S3 keys
 * are UTF-8 text (and PostgreSQL would refuse them deep in a write). */
ct_err s3_parse_path(const char *path, s3_target *t)
{
    memset(t, 0, sizeof *t);
    const char *p = path;
    if (*p == '/')
        p++;
    const char *slash = strchr(p, '/');
    size_t blen = slash ? (size_t)(slash - p) : strlen(p);
    size_t dlen;
    char *b = ct_uri_decode(p, blen, 0, &dlen);
    if (!b || dlen != strlen(b) || dlen >= sizeof t->bucket) {
        free(b);
        return CT_ERR_INVALID;
    }
    memcpy(t->bucket, b, dlen + 1);
    free(b);
    return slash && slash[1] ? parse_key(slash + 1, t) : CT_OK;
}

int s3_virtual_bucket(const ct_s3 *s, const ct_http_req *req, char *bucket, size_t n)
{
    const char *host = s->cfg.domain ? ct_http_header(req, "Host") : NULL;
    if (!host)
        return 0;
    size_t hlen = strcspn(host, ":"), dlen = strlen(s->domain);
    if (hlen <= dlen + 1 || hlen - dlen - 1 >= n || host[hlen - dlen - 1] != '.' ||
        strncasecmp(host + hlen - dlen, s->domain, dlen) != 0)
        return 0;
    size_t blen = hlen - dlen - 1;
    for (size_t i = 0; i < blen; i++)
        bucket[i] = (char)tolower((unsigned char)host[i]);
    bucket[blen] = '\0';
    return 1;
}

int ct_s3_is_virtual_host(const ct_s3 *s, const ct_http_req *req)
{
    char b[256];
    return s3_virtual_bucket(s, req, b, sizeof b);
}

/* Virtual-hosted style (Host "bucket.DOMAIN[:port]", the whole path is the
 * key) when --domain is set and the Host names a bucket; else path style. */
ct_err s3_parse_target(const ct_s3 *s, const ct_http_req *req, s3_target *t)
{
    memset(t, 0, sizeof *t);
    if (!s3_virtual_bucket(s, req, t->bucket, sizeof t->bucket))
        return s3_parse_path(req->path, t);
    const char *p = req->path[0] == '/' ? req->path + 1 : req->path;
    return *p ? parse_key(p, t) : CT_OK;
}

int s3_bucket_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n < 3 || n > 63)
        return 0;
    if (!isalnum((unsigned char)name[0]) || !isalnum((unsigned char)name[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!(islower(c) || isdigit(c) || c == '-' || c == '.'))
            return 0;
        if (c == '.' && (name[i + 1] == '.' || name[i + 1] == '-' || (i && name[i - 1] == '-')))
            return 0;
    }
    int dots = 0, digits_only = 1;
    for (size_t i = 0; i < n; i++) {
        if (name[i] == '.')
            dots++;
        else if (!isdigit((unsigned char)name[i]))
            digits_only = 0;
    }
    return !(dots == 3 && digits_only); /* not an IP address */
}

const char *s3_principal_id(const ct_http_req *req)
{
    return req->principal.anonymous ? "anonymous" : req->principal.access_key;
}

void ct_s3_handle(ct_s3 *s, ct_http_req *req, ct_http_resp *resp)
{
    if (req->auth_err) {
        ct_s3_auth_error(resp, req);
        return;
    }
    s3_target t;
    if (s3_parse_target(s, req, &t)) {
        ct_s3_error(resp, req, "InvalidURI", "Couldn't parse the specified URI.");
        resp->status = 400;
        return;
    }
    if (!s3_authorize(s, req, &t)) {
        ct_s3_error(resp, req, "AccessDenied", "Access Denied");
        s3_target_free(&t);
        return;
    }
    if (!t.bucket[0]) {
        if (strcmp(req->method, "GET") == 0)
            s3_list_buckets(s, req, resp);
        else
            ct_s3_error(resp, req, "MethodNotAllowed",
                        "The specified method is not allowed against this resource.");
    } else if (!t.key) {
        s3_bucket_op(s, req, resp, &t);
    } else {
        s3_object_op(s, req, resp, &t);
    }
    s3_target_free(&t);
}
