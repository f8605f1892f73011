/* edge_cloudfront.c: the CloudFront REST/XML API subset under /2020-05-31/
 * (distributions and invalidations), on the shared distribution store of
 * edge_admin.c. XML in (edge_xml.c, bounded) is mapped to the stored JSON
 * form; XML out is rendered from it, so the admin JSON API and this API see
 * the same distributions. Requests arrive authenticated and authorized. */
#include "edge/edge_internal.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CF_PREFIX "/2020-05-31/"
#define CF_NS "http://cloudfront.amazonaws.com/doc/2020-05-31/"
#define CF_BODY_MAX ((size_t)1 << 20)
#define CF_LIST_MAX 100
#define CF_INVAL_KEEP 100
#define CF_PATHS_MAX 3000

typedef struct {
    int status;
    const char *code;
    char msg[400];
} cf_fail;

static int fail(cf_fail *f, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(cf_fail *f, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->msg, sizeof f->msg, fmt, ap);
    va_end(ap);
    f->status = status;
    f->code = code;
    return -1;
}

static void reply_error(const ct_http_req *req, ct_http_resp *resp, const cf_fail *f)
{
    ct_buf_reset(&resp->body);
    resp->status = f->status;
    ct_buf_puts(&resp->body, "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"" CF_NS "\">"
                             "<Error><Type>Sender</Type><Code>");
    ct_xml_escape(&resp->body, f->code);
    ct_buf_puts(&resp->body, "</Code><Message>");
    ct_xml_escape(&resp->body, f->msg);
    ct_buf_printf(&resp->body, "</Message></Error><RequestId>%s</RequestId></ErrorResponse>",
                  req->request_id);
    ct_http_resp_header(resp, "Content-Type", "text/xml");
}

static void reply_xml(ct_http_resp *resp, int status, ct_buf *b, const char *etag)
{
    resp->status = status;
    ct_buf_puts(&resp->body, "<?xml version=\"1.0\"?>\n");
    if (b->data)
        ct_buf_append(&resp->body, b->data, b->len);
    ct_http_resp_header(resp, "Content-Type", "text/xml");
    if (etag)
        ct_http_resp_header(resp, "ETag", etag);
}

/* ---- XML -> stored JSON ---- */

static const char *text_of(const ct_xml_node *n) { return n && n->text.data ? n->text.data : ""; }

/* Every leaf empty, 0, false or none: a field left at its default. */
static int defaultish(const ct_xml_node *n)
{
    if (!n->first_child) {
        const char *t = text_of(n);
        t += strspn(t, " \t\r\n");
        return !*t || !strcmp(t, "0") || !strcmp(t, "false") || !strcmp(t, "none");
    }
    for (const ct_xml_node *c = n->first_child; c; c = c->next)
        if (!defaultish(c))
            return 0;
    return 1;
}

static int in_list(const char *name, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(name, *list))
            return 1;
    return 0;
}

/* Children of n not in known/ignored must be at their defaults. */
static int check_unsupported(const ct_xml_node *n, const char *const *known,
                             const char *const *ignored, cf_fail *f)
{
    for (const ct_xml_node *c = n->first_child; c; c = c->next)
        if (!in_list(c->name, known) && !in_list(c->name, ignored) && !defaultish(c))
            return fail(f, 400, "InvalidArgument", "%s.%s is not supported by CatTube",
                        n->name, c->name);
    return 0;
}

static int get_bool(const ct_xml_node *n, const char *name, int *out, cf_fail *f)
{
    const char *t = ct_xml_child_text(n, name);
    if (!t || (strcmp(t, "true") && strcmp(t, "false")))
        return fail(f, 400, "MalformedInput", "%s.%s must be true or false", n->name, name);
    *out = !strcmp(t, "true");
    return 0;
}

static int get_ttl(const ct_xml_node *n, const char *name, json_int_t def, json_t *o,
                   const char *key, cf_fail *f)
{
    const char *t = ct_xml_child_text(n, name);
    char *end;
    long long v = t ? strtoll(t, &end, 10) : def;
    if (t && (!*t || *end || v < 0 || v > EDGE_MAX_TTL * 10ll))
        return fail(f, 400, "InvalidArgument", "%s must be a number of seconds", name);
    json_object_set_new(o, key, json_integer(v));
    return 0;
}

/* Items/<item> texts into a JSON array (checks Quantity). */
static int get_items(const ct_xml_node *n, const char *item, size_t max, json_t **out,
                     cf_fail *f)
{
    json_t *arr = json_array();
    const ct_xml_node *items = ct_xml_child(n, "Items");
    size_t count = 0;
    for (const ct_xml_node *c = items ? items->first_child : NULL; c; c = c->next) {
        if (strcmp(c->name, item))
            continue;
        if (++count > max) {
            json_decref(arr);
            return fail(f, 400, "InvalidArgument", "At most %zu %s items are supported", max,
                        n->name);
        }
        json_array_append_new(arr, json_string(text_of(c)));
    }
    const char *q = ct_xml_child_text(n, "Quantity");
    if (!q || strtoul(q, NULL, 10) != count) {
        json_decref(arr);
        return fail(f, 400, "InvalidArgument", "%s.Quantity does not match its items", n->name);
    }
    *out = arr;
    return 0;
}

/* Origin DomainName -> bucket: BUCKET.s3[.-]REGION.amazonaws.com, BUCKET.s3.amazonaws.com
 * or a plain bucket name. */
static int origin_bucket(const char *dn, char *bucket, size_t n)
{
    size_t len = strlen(dn), sfx = strlen(".amazonaws.com");
    size_t blen = len;
    if (len > sfx && !strcmp(dn + len - sfx, ".amazonaws.com")) {
        const char *s3 = strstr(dn, ".s3.");
        if (!s3)
            s3 = strstr(dn, ".s3-");
        if (!s3)
            return -1;
        blen = (size_t)(s3 - dn);
    }
    if (!blen || blen >= n || blen > 63)
        return -1;
    memcpy(bucket, dn, blen);
    bucket[blen] = '\0';
    return 0;
}

static int parse_origin(ct_edge *e, const ct_xml_node *cfg, json_t *o, cf_fail *f)
{
    static const char *const known[] = {"Id", "DomainName", "OriginPath", "OriginAccessControlId",
                                        NULL};
    static const char *const ignored[] = {"S3OriginConfig", "ConnectionAttempts",
                                          "ConnectionTimeout", NULL};
    const ct_xml_node *origins = ct_xml_child(cfg, "Origins");
    const ct_xml_node *items = ct_xml_child(origins, "Items");
    const ct_xml_node *org = ct_xml_child(items, "Origin");
    if (!org)
        return fail(f, 400, "MalformedInput", "Origins must list one origin");
    if (org->next)
        return fail(f, 400, "InvalidArgument", "CatTube supports exactly one origin");
    if (check_unsupported(org, known, ignored, f))
        return -1;
    const char *id = ct_xml_child_text(org, "Id"), *dn = ct_xml_child_text(org, "DomainName");
    const char *op = ct_xml_child_text(org, "OriginPath");
    const char *oac = ct_xml_child_text(org, "OriginAccessControlId");
    char bucket[64];
    if (!id || !*id || !dn || origin_bucket(dn, bucket, sizeof bucket))
        return fail(f, 400, "InvalidOrigin", "The specified origin server does not exist or is "
                                             "not valid.");
    ct_meta_bucket b;
    memset(&b, 0, sizeof b);
    ct_err err = ct_meta_bucket_get(e->meta, bucket, &b);
    if (err)
        return fail(f, 400, "InvalidOrigin", "The origin bucket %s does not exist.", bucket);
    ct_meta_bucket_free(&b);
    if (op && *op && (op[0] != '/' || op[strlen(op) - 1] == '/' || strlen(op) > 255))
        return fail(f, 400, "InvalidArgument",
                    "OriginPath must start with a slash and must not end with one");
    json_object_set_new(o, "originId", json_string(id));
    json_object_set_new(o, "originDomainName", json_string(dn));
    json_object_set_new(o, "originBucket", json_string(bucket));
    json_object_set_new(o, "originPath", json_string(op ? op : ""));
    json_object_set_new(o, "originAccessControlId", json_string(oac ? oac : ""));
    return 0;
}

static int parse_key_groups(ct_edge *e, const ct_xml_node *tkg, json_t *o, cf_fail *f)
{
    int enabled = 0;
    json_t *arr = NULL;
    if (tkg && (get_bool(tkg, "Enabled", &enabled, f) ||
                get_items(tkg, "KeyGroup", EDGE_DIST_GROUPS_MAX, &arr, f)))
        return -1;
    if (!enabled) {
        json_decref(arr);
        arr = json_array();
    }
    size_t i;
    json_t *g;
    json_array_foreach(arr, i, g)
    {
        const char *id = json_string_value(g);
        if (strlen(id) != EDGE_GROUP_ID_LEN || !edge_key_group_exists(e, id)) {
            json_decref(arr);
            return fail(f, 400, "TrustedKeyGroupDoesNotExist",
                        "The key group %.40s does not exist", id);
        }
    }
    json_object_set_new(o, "trustedKeyGroups", arr);
    return 0;
}

static int parse_behavior(ct_edge *e, const ct_xml_node *cfg, json_t *o, cf_fail *f)
{
    static const char *const known[] = {"TargetOriginId", "TrustedKeyGroups",
                                        "ViewerProtocolPolicy", "MinTTL", "DefaultTTL",
                                        "MaxTTL", NULL};
    static const char *const ignored[] = {"AllowedMethods", "Compress", "ForwardedValues",
                                          "CachePolicyId", "OriginRequestPolicyId",
                                          "ResponseHeadersPolicyId", NULL};
    const ct_xml_node *b = ct_xml_child(cfg, "DefaultCacheBehavior");
    if (!b)
        return fail(f, 400, "MalformedInput", "DefaultCacheBehavior is required");
    if (check_unsupported(b, known, ignored, f))
        return -1;
    const char *target = ct_xml_child_text(b, "TargetOriginId");
    const char *oid = json_string_value(json_object_get(o, "originId"));
    if (!target || !oid || strcmp(target, oid))
        return fail(f, 400, "NoSuchOrigin",
                    "One or more of your origins or origin groups do not exist.");
    const char *vpp = ct_xml_child_text(b, "ViewerProtocolPolicy");
    edge_vpp p;
    if (!vpp || edge_vpp_parse(vpp, &p))
        return fail(f, 400, "InvalidArgument", "ViewerProtocolPolicy must be one of "
                                               "redirect-to-https, https-only, allow-all");
    json_object_set_new(o, "viewerProtocolPolicy", json_string(edge_vpp_name(p)));
    if (get_ttl(b, "MinTTL", 0, o, "minTTL", f) ||
        get_ttl(b, "DefaultTTL", EDGE_DEFAULT_TTL, o, "defaultTTL", f) ||
        get_ttl(b, "MaxTTL", EDGE_MAX_TTL, o, "maxTTL", f))
        return -1;
    return parse_key_groups(e, ct_xml_child(b, "TrustedKeyGroups"), o, f);
}

static int parse_aliases(ct_edge *e, const ct_xml_node *cfg, json_t *o, cf_fail *f)
{
    const ct_xml_node *al = ct_xml_child(cfg, "Aliases");
    json_t *arr = NULL;
    if (!al) {
        json_object_set_new(o, "aliases", json_array());
        return 0;
    }
    if (get_items(al, "CNAME", EDGE_ALIASES_MAX, &arr, f))
        return -1;
    size_t i;
    json_t *a;
    json_array_foreach(arr, i, a)
    {
        char host[EDGE_HOST_MAX];
        const char *s = json_string_value(a);
        const char *check = strncmp(s, "*.", 2) == 0 ? s + 2 : s;
        if (edge_host_parse(check, host, sizeof host, NULL) || strchr(s, ':')) {
            json_decref(arr);
            return fail(f, 400, "InvalidArgument", "The alias %.64s is not a valid host name",
                        s);
        }
        char lower[EDGE_HOST_MAX + 2];
        snprintf(lower, sizeof lower, "%s%s", check == s ? "" : "*.", host);
        if (strlen(lower) >= EDGE_HOST_MAX) {
            json_decref(arr);
            return fail(f, 400, "InvalidArgument", "The alias %.64s is too long", s);
        }
        json_array_set_new(arr, i, json_string(lower));
    }
    json_object_set_new(o, "aliases", arr);
    return 0;
}

/* DistributionConfig -> the stored fields. */
static int parse_config(ct_edge *e, const ct_xml_node *cfg, json_t *o, cf_fail *f)
{
    static const char *const known[] = {"CallerReference", "Aliases", "DefaultRootObject",
                                        "Origins", "DefaultCacheBehavior", "Comment", "Enabled",
                                        NULL};
    static const char *const ignored[] = {"PriceClass", "HttpVersion", "IsIPV6Enabled",
                                          "ViewerCertificate", "Restrictions", NULL};
    if (!cfg || strcmp(cfg->name, "DistributionConfig"))
        return fail(f, 400, "MalformedInput", "The body must be a DistributionConfig");
    if (check_unsupported(cfg, known, ignored, f))
        return -1;
    const char *cref = ct_xml_child_text(cfg, "CallerReference");
    const char *comment = ct_xml_child_text(cfg, "Comment");
    const char *root = ct_xml_child_text(cfg, "DefaultRootObject");
    int enabled;
    if (!cref || !*cref || strlen(cref) > 128)
        return fail(f, 400, "MalformedInput", "CallerReference is required");
    if (!comment || strlen(comment) > 128)
        return fail(f, 400, "InvalidArgument", "Comment is required (at most 128 characters)");
    if (root && (strlen(root) > 255 || root[0] == '/'))
        return fail(f, 400, "InvalidDefaultRootObject",
                    "The specified default root object is invalid.");
    if (get_bool(cfg, "Enabled", &enabled, f))
        return -1;
    json_object_set_new(o, "callerReference", json_string(cref));
    json_object_set_new(o, "comment", json_string(comment));
    json_object_set_new(o, "enabled", json_boolean(enabled));
    json_object_set_new(o, "defaultRootObject", json_string(root ? root : ""));
    return parse_origin(e, cfg, o, f) || parse_behavior(e, cfg, o, f) ||
                   parse_aliases(e, cfg, o, f)
               ? -1
               : 0;
}

static int parse_body(const ct_http_req *req, ct_xml_node **root, cf_fail *f)
{
    if (req->body_len > CF_BODY_MAX)
        return fail(f, 400, "MalformedInput", "The request body is too large");
    char msg[300];
    if (ct_xml_parse(req->body ? req->body : "", req->body_len, root, msg, sizeof msg))
        return fail(f, 400, "MalformedXML", "%s", msg);
    return 0;
}

/* ---- stored JSON -> XML ---- */

static const char *js(const json_t *d, const char *k)
{
    const char *s = json_string_value(json_object_get(d, k));
    return s ? s : "";
}

static void x_text(ct_buf *b, const char *tag, const char *v)
{
    ct_buf_printf(b, "<%s>", tag);
    ct_xml_escape(b, v);
    ct_buf_printf(b, "</%s>", tag);
}

static void x_list(ct_buf *b, const char *tag, const char *item, json_t *arr)
{
    size_t i, n = json_array_size(arr);
    json_t *v;
    ct_buf_printf(b, "<%s><Quantity>%zu</Quantity>", tag, n);
    if (n) {
        ct_buf_puts(b, "<Items>");
        json_array_foreach(arr, i, v) x_text(b, item, json_string_value(v));
        ct_buf_puts(b, "</Items>");
    }
    ct_buf_printf(b, "</%s>", tag);
}

static void x_origins(ct_buf *b, const json_t *d)
{
    const char *oid = js(d, "originId"), *dn = js(d, "originDomainName");
    char def_dn[128];
    snprintf(def_dn, sizeof def_dn, "%s.s3.amazonaws.com", js(d, "originBucket"));
    ct_buf_puts(b, "<Origins><Quantity>1</Quantity><Items><Origin>");
    x_text(b, "Id", *oid ? oid : js(d, "originBucket"));
    x_text(b, "DomainName", *dn ? dn : def_dn);
    x_text(b, "OriginPath", js(d, "originPath"));
    ct_buf_puts(b, "<CustomHeaders><Quantity>0</Quantity></CustomHeaders>"
                   "<S3OriginConfig><OriginAccessIdentity></OriginAccessIdentity>"
                   "</S3OriginConfig><ConnectionAttempts>3</ConnectionAttempts>"
                   "<ConnectionTimeout>10</ConnectionTimeout>");
    x_text(b, "OriginAccessControlId", js(d, "originAccessControlId"));
    ct_buf_puts(b, "</Origin></Items></Origins>");
}

static void x_behavior(ct_buf *b, const json_t *d)
{
    const char *oid = js(d, "originId");
    json_t *groups = json_object_get(d, "trustedKeyGroups");
    ct_buf_puts(b, "<DefaultCacheBehavior>");
    x_text(b, "TargetOriginId", *oid ? oid : js(d, "originBucket"));
    ct_buf_puts(b, "<TrustedSigners><Enabled>false</Enabled><Quantity>0</Quantity>"
                   "</TrustedSigners>");
    ct_buf_printf(b, "<TrustedKeyGroups><Enabled>%s</Enabled><Quantity>%zu</Quantity>",
                  json_array_size(groups) ? "true" : "false", json_array_size(groups));
    if (json_array_size(groups)) {
        size_t i;
        json_t *g;
        ct_buf_puts(b, "<Items>");
        json_array_foreach(groups, i, g) x_text(b, "KeyGroup", json_string_value(g));
        ct_buf_puts(b, "</Items>");
    }
    ct_buf_puts(b, "</TrustedKeyGroups>");
    x_text(b, "ViewerProtocolPolicy", js(d, "viewerProtocolPolicy"));
    ct_buf_printf(b, "<MinTTL>%lld</MinTTL><DefaultTTL>%lld</DefaultTTL><MaxTTL>%lld</MaxTTL>",
                  (long long)json_integer_value(json_object_get(d, "minTTL")),
                  (long long)json_integer_value(json_object_get(d, "defaultTTL")),
                  (long long)json_integer_value(json_object_get(d, "maxTTL")));
    ct_buf_puts(b, "</DefaultCacheBehavior>");
}

static void x_config(ct_buf *b, const json_t *d, const char *tag)
{
    ct_buf_printf(b, "<%s>", tag);
    const char *cref = js(d, "callerReference");
    x_text(b, "CallerReference", *cref ? cref : js(d, "id"));
    x_list(b, "Aliases", "CNAME", json_object_get(d, "aliases"));
    x_text(b, "DefaultRootObject", js(d, "defaultRootObject"));
    x_origins(b, d);
    x_behavior(b, d);
    x_text(b, "Comment", js(d, "comment"));
    ct_buf_printf(b, "<PriceClass>PriceClass_All</PriceClass><Enabled>%s</Enabled>"
                     "<HttpVersion>http1.1</HttpVersion><IsIPV6Enabled>true</IsIPV6Enabled>",
                  json_is_false(json_object_get(d, "enabled")) ? "false" : "true");
    ct_buf_printf(b, "</%s>", tag);
}

static void x_distribution(ct_buf *b, const json_t *d, int root)
{
    ct_buf_printf(b, "<Distribution%s>", root ? " xmlns=\"" CF_NS "\"" : "");
    x_text(b, "Id", js(d, "id"));
    x_text(b, "ARN", js(d, "arn"));
    x_text(b, "Status", "Deployed");
    x_text(b, "LastModifiedTime", js(d, "lastModifiedAt"));
    ct_buf_puts(b, "<InProgressInvalidationBatches>0</InProgressInvalidationBatches>");
    x_text(b, "DomainName", js(d, "domainName"));
    x_config(b, d, "DistributionConfig");
    ct_buf_puts(b, "</Distribution>");
}

/* ---- handlers ---- */

static int load(ct_edge *e, const char *id, json_t **d, cf_fail *f)
{
    void *v = NULL;
    ct_err err = edge_dist_load(e, id, &v);
    if (err == CT_ERR_NOT_FOUND)
        return fail(f, 404, "NoSuchDistribution", "The specified distribution does not exist.");
    if (err)
        return fail(f, 500, "InternalError", "Cannot read the distribution: %s",
                    ct_err_str(err));
    *d = v;
    edge_dist_wire(e, *d);
    return 0;
}

static int alias_taken(ct_edge *e, const json_t *fields, const char *self, cf_fail *f)
{
    void *v = NULL;
    if (edge_dist_list_all(e, &v))
        return fail(f, 500, "InternalError", "Cannot list distributions");
    json_t *all = v, *d, *a, *b;
    size_t i, k, m;
    int rc = 0;
    json_array_foreach(all, i, d)
    {
        if (self && !strcmp(js(d, "id"), self))
            continue;
        json_array_foreach(json_object_get(fields, "aliases"), k, a)
            json_array_foreach(json_object_get(d, "aliases"), m, b) if (json_equal(a, b))
                rc = fail(f, 409, "CNAMEAlreadyExists",
                          "One or more of the CNAMEs you provided are already associated "
                          "with a different resource.");
    }
    json_decref(all);
    return rc;
}

/* An existing distribution with this CallerReference: 1 (*out set) when its config is the
 * same, -1 (fail) when it differs, 0 when none. */
static int same_caller(ct_edge *e, const json_t *fields, json_t **out, cf_fail *f)
{
    void *v = NULL;
    if (edge_dist_list_all(e, &v))
        return fail(f, 500, "InternalError", "Cannot list distributions");
    json_t *all = v, *d, *val;
    size_t i;
    const char *k;
    int rc = 0;
    json_array_foreach(all, i, d)
    {
        if (strcmp(js(d, "callerReference"), js(fields, "callerReference")))
            continue;
        rc = 1;
        json_object_foreach((json_t *)fields, k, val) if (!json_equal(val, json_object_get(d, k)))
            rc = fail(f, 409, "DistributionAlreadyExists",
                      "The caller reference that you are using to create a distribution is "
                      "associated with another distribution. Already exists: %s",
                      js(d, "id"));
        if (rc == 1)
            *out = json_incref(d);
        break;
    }
    json_decref(all);
    return rc;
}

static void reply_dist(ct_http_resp *resp, int status, const json_t *d, int config_only)
{
    ct_buf b = CT_BUF_INIT;
    if (config_only) {
        x_config(&b, d, "DistributionConfig");
        /* namespace on the root element */
        ct_buf nb = CT_BUF_INIT;
        ct_buf_puts(&nb, "<DistributionConfig xmlns=\"" CF_NS "\">");
        ct_buf_append(&nb, b.data + strlen("<DistributionConfig>"),
                      b.len - strlen("<DistributionConfig>"));
        ct_buf_free(&b);
        b = nb;
    } else {
        x_distribution(&b, d, 1);
    }
    reply_xml(resp, status, &b, js(d, "etag"));
    ct_buf_free(&b);
}

static int do_create(ct_edge *e, const ct_http_req *req, ct_http_resp *resp, cf_fail *f)
{
    ct_xml_node *root = NULL;
    json_t *fields = json_object(), *existing = NULL;
    int rc = -1, same;
    if (parse_body(req, &root, f) || parse_config(e, root, fields, f) ||
        (same = same_caller(e, fields, &existing, f)) < 0)
        goto cleanup;
    if (same == 0) {
        if (alias_taken(e, fields, NULL, f))
            goto cleanup;
        ct_err err = edge_dist_create(e, fields);
        if (err) {
            fail(f, 500, "InternalError", "Cannot store the distribution: %s", ct_err_str(err));
            goto cleanup;
        }
        existing = json_incref(fields);
        ct_info("edge: CloudFront API created distribution %s for bucket %s", js(fields, "id"),
                js(fields, "originBucket"));
    }
    edge_dist_wire(e, existing);
    char loc[160];
    snprintf(loc, sizeof loc, "https://cloudfront.amazonaws.com/2020-05-31/distribution/%s",
             js(existing, "id"));
    ct_http_resp_header(resp, "Location", loc);
    reply_dist(resp, 201, existing, 0);
    rc = 0;
cleanup:
    json_decref(existing);
    json_decref(fields);
    ct_xml_free(root);
    return rc;
}

static int if_match(const ct_http_req *req, const json_t *d, cf_fail *f)
{
    const char *im = ct_http_header(req, "If-Match");
    if (!im || !*im)
        return fail(f, 400, "InvalidIfMatchVersion",
                    "The If-Match version is missing or not valid for the resource.");
    if (strcmp(im, js(d, "etag")))
        return fail(f, 412, "PreconditionFailed",
                    "The precondition given in one or more of the request header fields "
                    "evaluated to false.");
    return 0;
}

static int do_update(ct_edge *e, const char *id, const ct_http_req *req, ct_http_resp *resp,
                     cf_fail *f)
{
    ct_xml_node *root = NULL;
    json_t *fields = json_object(), *d = NULL;
    int rc = -1;
    if (load(e, id, &d, f) || parse_body(req, &root, f) || if_match(req, d, f) ||
        parse_config(e, root, fields, f) || alias_taken(e, fields, id, f))
        goto cleanup;
    const char *old_ref = js(d, "callerReference");
    if (*old_ref && strcmp(old_ref, js(fields, "callerReference"))) {
        fail(f, 400, "IllegalUpdate", "The CallerReference of a distribution cannot change.");
        goto cleanup;
    }
    json_object_update(d, fields);
    json_object_del(d, "domainName");
    json_object_del(d, "url");
    ct_err err = edge_dist_save(e, id, d);
    if (err) {
        fail(f, 500, "InternalError", "Cannot store the distribution: %s", ct_err_str(err));
        goto cleanup;
    }
    edge_dist_wire(e, d);
    ct_info("edge: CloudFront API updated distribution %s", id);
    reply_dist(resp, 200, d, 0);
    rc = 0;
cleanup:
    json_decref(d);
    json_decref(fields);
    ct_xml_free(root);
    return rc;
}

static int do_delete(ct_edge *e, const char *id, const ct_http_req *req, ct_http_resp *resp,
                     cf_fail *f)
{
    json_t *d = NULL;
    int rc = -1;
    if (load(e, id, &d, f) || if_match(req, d, f))
        goto cleanup;
    if (!json_is_false(json_object_get(d, "enabled"))) {
        fail(f, 409, "DistributionNotDisabled", "The distribution you are trying to delete "
                                                "has not been disabled.");
        goto cleanup;
    }
    ct_err err = edge_dist_remove(e, id);
    if (err) {
        fail(f, 500, "InternalError", "Cannot delete the distribution: %s", ct_err_str(err));
        goto cleanup;
    }
    ct_info("edge: CloudFront API deleted distribution %s", id);
    resp->status = 204;
    rc = 0;
cleanup:
    json_decref(d);
    return rc;
}

static void x_summary(ct_buf *b, const json_t *d)
{
    ct_buf_puts(b, "<DistributionSummary>");
    x_text(b, "Id", js(d, "id"));
    x_text(b, "ARN", js(d, "arn"));
    x_text(b, "Status", "Deployed");
    x_text(b, "LastModifiedTime", js(d, "lastModifiedAt"));
    x_text(b, "DomainName", js(d, "domainName"));
    x_list(b, "Aliases", "CNAME", json_object_get(d, "aliases"));
    x_origins(b, d);
    ct_buf_puts(b, "<OriginGroups><Quantity>0</Quantity></OriginGroups>");
    x_behavior(b, d);
    ct_buf_puts(b, "<CacheBehaviors><Quantity>0</Quantity></CacheBehaviors>"
                   "<CustomErrorResponses><Quantity>0</Quantity></CustomErrorResponses>");
    x_text(b, "Comment", js(d, "comment"));
    ct_buf_printf(b, "<PriceClass>PriceClass_All</PriceClass><Enabled>%s</Enabled>"
                     "<ViewerCertificate><CloudFrontDefaultCertificate>true"
                     "</CloudFrontDefaultCertificate></ViewerCertificate>"
                     "<Restrictions><GeoRestriction><RestrictionType>none</RestrictionType>"
                     "<Quantity>0</Quantity></GeoRestriction></Restrictions>"
                     "<WebACLId></WebACLId><HttpVersion>http1.1</HttpVersion>"
                     "<IsIPV6Enabled>true</IsIPV6Enabled><Staging>false</Staging>",
                  json_is_false(json_object_get(d, "enabled")) ? "false" : "true");
    ct_buf_puts(b, "</DistributionSummary>");
}

static int do_list(ct_edge *e, const ct_http_req *req, ct_http_resp *resp, cf_fail *f)
{
    void *v = NULL;
    if (edge_dist_list_all(e, &v))
        return fail(f, 500, "InternalError", "Cannot list distributions");
    json_t *all = v, *d;
    char *marker = ct_http_query(req, "Marker");
    size_t i, n = 0, start = 0;
    json_array_foreach(all, i, d) if (marker && *marker && !strcmp(js(d, "id"), marker)) start =
        i + 1;
    ct_buf items = CT_BUF_INIT, b = CT_BUF_INIT;
    const char *next = NULL;
    for (i = start; i < json_array_size(all); i++) {
        if (n == CF_LIST_MAX) {
            next = js(json_array_get(all, i - 1), "id");
            break;
        }
        x_summary(&items, json_array_get(all, i));
        n++;
    }
    ct_buf_puts(&b, "<DistributionList xmlns=\"" CF_NS "\">");
    x_text(&b, "Marker", marker ? marker : "");
    if (next)
        x_text(&b, "NextMarker", next);
    ct_buf_printf(&b, "<MaxItems>%d</MaxItems><IsTruncated>%s</IsTruncated>"
                      "<Quantity>%zu</Quantity>",
                  CF_LIST_MAX, next ? "true" : "false", n);
    if (n) {
        ct_buf_puts(&b, "<Items>");
        ct_buf_append(&b, items.data, items.len);
        ct_buf_puts(&b, "</Items>");
    }
    ct_buf_puts(&b, "</DistributionList>");
    reply_xml(resp, 200, &b, NULL);
    ct_buf_free(&b);
    ct_buf_free(&items);
    free(marker);
    json_decref(all);
    return 0;
}

/* ---- invalidations (kept in the distribution's record, newest CF_INVAL_KEEP) ---- */

static void x_invalidation(ct_buf *b, const json_t *inv)
{
    ct_buf_puts(b, "<Invalidation xmlns=\"" CF_NS "\">");
    x_text(b, "Id", js(inv, "id"));
    x_text(b, "Status", "Completed");
    x_text(b, "CreateTime", js(inv, "createTime"));
    ct_buf_puts(b, "<InvalidationBatch>");
    x_list(b, "Paths", "Path", json_object_get(inv, "paths"));
    x_text(b, "CallerReference", js(inv, "callerReference"));
    ct_buf_puts(b, "</InvalidationBatch></Invalidation>");
}

static int store_raw(ct_edge *e, const char *id, json_t *d, cf_fail *f)
{
    json_object_del(d, "domainName");
    json_object_del(d, "url");
    char *text = json_dumps(d, JSON_COMPACT);
    ct_err err = text ? ct_meta_distribution_put(e->meta, id, text, 0) : CT_ERR_NOMEM;
    free(text);
    return err ? fail(f, 500, "InternalError", "Cannot store: %s", ct_err_str(err)) : 0;
}

static int do_invalidate(ct_edge *e, const char *id, const ct_http_req *req, ct_http_resp *resp,
                         cf_fail *f)
{
    ct_xml_node *root = NULL;
    json_t *d = NULL, *paths = NULL, *inv = NULL;
    int rc = -1;
    if (load(e, id, &d, f) || parse_body(req, &root, f))
        goto cleanup;
    const ct_xml_node *pn = ct_xml_child(root, "Paths");
    const char *cref = ct_xml_child_text(root, "CallerReference");
    if (strcmp(root->name, "InvalidationBatch") || !pn || !cref || !*cref) {
        fail(f, 400, "MalformedInput", "The body must be an InvalidationBatch");
        goto cleanup;
    }
    if (get_items(pn, "Path", CF_PATHS_MAX, &paths, f))
        goto cleanup;
    size_t i, n = json_array_size(paths);
    json_t *p;
    json_array_foreach(paths, i, p)
    {
        const char *s = json_string_value(p);
        if (s[0] != '/' || strlen(s) > 4096) {
            fail(f, 400, "InvalidArgument", "Each path must start with /");
            goto cleanup;
        }
    }
    if (!n) {
        fail(f, 400, "InvalidArgument", "An invalidation needs at least one path");
        goto cleanup;
    }
    json_array_foreach(paths, i, p) edge_dist_invalidate_path(e, id, json_string_value(p));
    char iid[15], now[32];
    iid[0] = 'I';
    ct_random_alnum(iid + 1, 13, 1);
    iid[14] = '\0';
    ct_time_iso8601(ct_now_ms(), now);
    inv = json_pack("{s:s, s:s, s:s, s:O}", "id", iid, "createTime", now, "callerReference",
                    cref, "paths", paths);
    json_t *list = json_object_get(d, "invalidations");
    if (!json_is_array(list)) {
        list = json_array();
        json_object_set_new(d, "invalidations", list);
    }
    json_array_insert(list, 0, inv);
    while (json_array_size(list) > CF_INVAL_KEEP)
        json_array_remove(list, CF_INVAL_KEEP);
    if (store_raw(e, id, d, f))
        goto cleanup;
    ct_info("edge: invalidation %s of %zu path(s) on %s", iid, n, id);
    char loc[200];
    snprintf(loc, sizeof loc,
             "https://cloudfront.amazonaws.com/2020-05-31/distribution/%s/invalidation/%s", id,
             iid);
    ct_http_resp_header(resp, "Location", loc);
    ct_buf b = CT_BUF_INIT;
    x_invalidation(&b, inv);
    reply_xml(resp, 201, &b, NULL);
    ct_buf_free(&b);
    rc = 0;
cleanup:
    json_decref(inv);
    json_decref(paths);
    json_decref(d);
    ct_xml_free(root);
    return rc;
}

static int do_invalidations(ct_edge *e, const char *id, const char *iid, ct_http_resp *resp,
                            cf_fail *f)
{
    json_t *d = NULL, *inv = NULL;
    if (load(e, id, &d, f))
        return -1;
    json_t *list = json_object_get(d, "invalidations");
    size_t i;
    ct_buf b = CT_BUF_INIT;
    if (iid) {
        json_array_foreach(list, i, inv) if (!strcmp(js(inv, "id"), iid)) break;
        if (i < json_array_size(list))
            x_invalidation(&b, inv);
        else
            fail(f, 404, "NoSuchInvalidation", "The specified invalidation does not exist.");
    } else {
        ct_buf_printf(&b, "<InvalidationList xmlns=\"" CF_NS "\"><Marker></Marker>"
                          "<MaxItems>%d</MaxItems><IsTruncated>false</IsTruncated>"
                          "<Quantity>%zu</Quantity>",
                      CF_INVAL_KEEP, json_array_size(list));
        if (json_array_size(list))
            ct_buf_puts(&b, "<Items>");
        json_array_foreach(list, i, inv)
        {
            ct_buf_puts(&b, "<InvalidationSummary>");
            x_text(&b, "Id", js(inv, "id"));
            x_text(&b, "CreateTime", js(inv, "createTime"));
            ct_buf_puts(&b, "<Status>Completed</Status></InvalidationSummary>");
        }
        ct_buf_puts(&b, json_array_size(list) ? "</Items></InvalidationList>"
                                              : "</InvalidationList>");
    }
    if (!f->status)
        reply_xml(resp, 200, &b, NULL);
    ct_buf_free(&b);
    json_decref(d);
    return f->status ? -1 : 0;
}

/* rest: what follows "/2020-05-31/distribution". */
static void route(ct_edge *e, const char *rest, const ct_http_req *req, ct_http_resp *resp,
                  cf_fail *f)
{
    const char *m = req->method;
    char id[32] = "", sub[32] = "", iid[32] = "";
    if (!*rest || !strcmp(rest, "/")) {
        if (!strcmp(m, "POST"))
            do_create(e, req, resp, f);
        else if (!strcmp(m, "GET"))
            do_list(e, req, resp, f);
        else
            fail(f, 405, "MethodNotAllowed", "Method %s is not allowed here", m);
        return;
    }
    int n = 0;
    if (rest[0] != '/' || sscanf(rest, "/%31[A-Za-z0-9]%n", id, &n) != 1 ||
        (rest[n] && sscanf(rest + n, "/%31[a-z]%n", sub, &n) != 1)) {
        fail(f, 404, "NoSuchDistribution", "The specified distribution does not exist.");
        return;
    }
    const char *tail = rest + strlen(id) + 1 + (sub[0] ? strlen(sub) + 1 : 0);
    if (*tail && (strcmp(sub, "invalidation") || sscanf(tail, "/%31[A-Za-z0-9]", iid) != 1 ||
                  strlen(tail) != strlen(iid) + 1)) {
        fail(f, 404, "NotImplemented", "Unknown CloudFront resource");
        return;
    }
    if (!sub[0] && !strcmp(m, "GET")) {
        json_t *d = NULL;
        if (!load(e, id, &d, f))
            reply_dist(resp, 200, d, 0);
        json_decref(d);
    } else if (!sub[0] && !strcmp(m, "DELETE")) {
        do_delete(e, id, req, resp, f);
    } else if (!strcmp(sub, "config") && !strcmp(m, "GET")) {
        json_t *d = NULL;
        if (!load(e, id, &d, f))
            reply_dist(resp, 200, d, 1);
        json_decref(d);
    } else if (!strcmp(sub, "config") && !strcmp(m, "PUT")) {
        do_update(e, id, req, resp, f);
    } else if (!strcmp(sub, "invalidation") && !iid[0] && !strcmp(m, "POST")) {
        do_invalidate(e, id, req, resp, f);
    } else if (!strcmp(sub, "invalidation") && !strcmp(m, "GET")) {
        do_invalidations(e, id, iid[0] ? iid : NULL, resp, f);
    } else {
        fail(f, 405, "MethodNotAllowed", "Method %s is not allowed here", m);
    }
}

void ct_edge_cloudfront_handle(ct_edge *e, const ct_http_req *req, ct_http_resp *resp)
{
    cf_fail f = {0};
    const char *path = req->path ? req->path : "";
    if (req->auth_err != CT_OK || req->principal.anonymous)
        fail(&f, 403, "AccessDenied", "%s", req->auth_msg[0] ? req->auth_msg : "Access denied");
    else if (!e)
        fail(&f, 503, "ServiceUnavailable", "The edge is not running");
    else if (strncmp(path, CF_PREFIX "distribution", strlen(CF_PREFIX "distribution")))
        fail(&f, 404, "NotImplemented", "This CloudFront API is not supported by CatTube");
    else
        route(e, path + strlen(CF_PREFIX "distribution"), req, resp, &f);
    if (f.status)
        reply_error(req, resp, &f);
}
