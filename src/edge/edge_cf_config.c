/* edge_cf_config.c: DistributionConfig XML <-> the stored distribution
 * JSON (the subset CatTube honours; anything else at a non-default value is
 * an error naming the field).
 *
 * The origin is stored with its kind ("originType"): "s3", a bucket of this
 * node; "s3-external", an amazonaws.com S3 origin whose bucket is not here
 * when the config is stored ("originRegion" from the name); "custom", a
 * CustomOriginConfig (an S3-compatible store at DomainName and its ports,
 * the bucket being OriginPath's first segment). edge_dists.c turns the kind
 * into where the edge reads; the XML comes back as it was sent. An
 * external origin whose host (and port) is not in --origin-allow is
 * refused with InvalidOrigin naming it (edge_allow.h). */
#include "edge/edge_cf.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Origin DomainName -> bucket: BUCKET.s3[.-]REGION.amazonaws.com, BUCKET.s3.amazonaws.com
 * or a plain bucket name. region (cap rn) gets the name's region ("us-east-1"
 * for s3.amazonaws.com); *aws tells the amazonaws.com forms from a plain name. */
static int origin_bucket(const char *dn, char *bucket, size_t n, char *region, size_t rn,
                         int *aws)
{
    size_t len = strlen(dn), sfx = strlen(".amazonaws.com");
    size_t blen = len;
    snprintf(region, rn, "us-east-1");
    *aws = 0;
    if (len > sfx && !strcmp(dn + len - sfx, ".amazonaws.com")) {
        const char *s3 = strstr(dn, ".s3.");
        if (!s3)
            s3 = strstr(dn, ".s3-");
        if (!s3)
            return -1;
        blen = (size_t)(s3 - dn);
        const char *r = s3 + 4, *end = dn + len - sfx; /* "REGION" or "" before the suffix */
        if (end > r) {
            if ((size_t)(end - r) >= rn || strspn(r, "abcdefghijklmnopqrstuvwxyz0123456789-") <
                                               (size_t)(end - r))
                return -1;
            snprintf(region, rn, "%.*s", (int)(end - r), r);
        }
        *aws = 1;
    }
    if (!blen || blen >= n || blen > 63)
        return -1;
    memcpy(bucket, dn, blen);
    bucket[blen] = '\0';
    return 0;
}

/* One CustomOriginConfig port (default def when absent) into o[key]. */
static int custom_port(const ct_xml_node *coc, const char *name, long def, json_t *o,
                       const char *key, cf_fail *f)
{
    const char *t = ct_xml_child_text(coc, name);
    char *end = NULL;
    long v = t ? strtol(t, &end, 10) : def;
    if (t && (!*t || *end || v < 1 || v > 65535))
        return cf_failf(f, 400, "InvalidArgument", "CustomOriginConfig.%s must be a port number",
                        name);
    json_object_set_new(o, key, json_integer(v));
    return 0;
}

/* A CustomOriginConfig field CatTube does not vary: absent or CloudFront's default. */
static int custom_fixed(const ct_xml_node *coc, const char *name, const char *def, cf_fail *f)
{
    const char *t = ct_xml_child_text(coc, name);
    if (t && *t && strcmp(t, def))
        return cf_failf(f, 400, "InvalidArgument",
                        "CustomOriginConfig.%s other than %s is not supported by CatTube", name,
                        def);
    return 0;
}

/* A custom origin (an S3-compatible store such as MinIO): endpoint
 * http(s)://DomainName:port, path-style; OriginPath's first segment is the
 * bucket, the rest the key prefix. */
static int parse_custom(const ct_xml_node *org, const ct_xml_node *coc, const char *dn,
                        const char *op, json_t *o, cf_fail *f)
{
    static const char *const known[] = {"HTTPPort", "HTTPSPort", "OriginProtocolPolicy",
                                        "OriginReadTimeout", "OriginKeepaliveTimeout", NULL};
    static const char *const ignored[] = {"OriginSslProtocols", NULL};
    if (ct_xml_child(org, "S3OriginConfig"))
        return cf_failf(f, 400, "InvalidArgument",
                        "An origin has either S3OriginConfig or CustomOriginConfig, not both");
    if (cf_check_unsupported(coc, known, ignored, f) ||
        custom_fixed(coc, "OriginReadTimeout", "30", f) ||
        custom_fixed(coc, "OriginKeepaliveTimeout", "5", f))
        return -1;
    char host[EDGE_HOST_MAX];
    int v6 = 0;
    if (!dn || strchr(dn, ':') || edge_host_parse(dn, host, sizeof host, &v6) || v6)
        return cf_failf(f, 400, "InvalidOrigin", "The custom origin's DomainName must be a host "
                                                 "name or an IPv4 address.");
    const char *pp = ct_xml_child_text(coc, "OriginProtocolPolicy");
    if (!pp || (strcmp(pp, "http-only") && strcmp(pp, "https-only") && strcmp(pp, "match-viewer")))
        return cf_failf(f, 400, "InvalidArgument", "CustomOriginConfig.OriginProtocolPolicy must "
                                                   "be http-only, https-only or match-viewer");
    size_t blen = op && op[0] == '/' ? strcspn(op + 1, "/") : 0;
    if (!blen || blen > 63 ||
        strspn(op + 1, "abcdefghijklmnopqrstuvwxyz0123456789.-_") < blen)
        return cf_failf(f, 400, "InvalidArgument",
                        "OriginPath must name the bucket of a custom origin: /BUCKET[/PREFIX] "
                        "(a lowercase S3 bucket name first)");
    if (custom_port(coc, "HTTPPort", 80, o, "originHttpPort", f) ||
        custom_port(coc, "HTTPSPort", 443, o, "originHttpsPort", f))
        return -1;
    json_object_set_new(o, "originType", json_string("custom"));
    json_object_set_new(o, "originDomainName", json_string(host));
    json_object_set_new(o, "originBucket", json_stringn(op + 1, blen));
    json_object_set_new(o, "originProtocolPolicy", json_string(pp));
    return 0;
}

/* An S3 origin: a bucket of this node, else (an amazonaws.com name) an
 * external S3 bucket read at the region's endpoint or --external-s3-endpoint. */
static int parse_s3(ct_edge *e, const char *dn, json_t *o, cf_fail *f)
{
    char bucket[64], region[32];
    int aws;
    if (!dn || origin_bucket(dn, bucket, sizeof bucket, region, sizeof region, &aws))
        return cf_failf(f, 400, "InvalidOrigin", "The specified origin server does not exist or is "
                                                 "not valid.");
    ct_meta_bucket b;
    memset(&b, 0, sizeof b);
    ct_err err = ct_meta_bucket_get(e->meta, bucket, &b);
    if (err && (err != CT_ERR_NOT_FOUND || !aws))
        return cf_failf(f, 400, "InvalidOrigin", "The origin bucket %s does not exist.", bucket);
    if (!err)
        ct_meta_bucket_free(&b);
    json_object_set_new(o, "originType", json_string(err ? "s3-external" : "s3"));
    json_object_set_new(o, "originRegion", json_string(region));
    json_object_set_new(o, "originDomainName", json_string(dn));
    json_object_set_new(o, "originBucket", json_string(bucket));
    return 0;
}

static int parse_origin(ct_edge *e, const ct_xml_node *cfg, json_t *o, cf_fail *f)
{
    static const char *const known[] = {"Id", "DomainName", "OriginPath", "OriginAccessControlId",
                                        "CustomOriginConfig", NULL};
    static const char *const ignored[] = {"S3OriginConfig", "ConnectionAttempts",
                                          "ConnectionTimeout", NULL};
    const ct_xml_node *origins = ct_xml_child(cfg, "Origins");
    const ct_xml_node *items = ct_xml_child(origins, "Items");
    const ct_xml_node *org = ct_xml_child(items, "Origin");
    if (!org)
        return cf_failf(f, 400, "MalformedInput", "Origins must list one origin");
    if (org->next)
        return cf_failf(f, 400, "InvalidArgument", "CatTube supports exactly one origin");
    if (cf_check_unsupported(org, known, ignored, f))
        return -1;
    const char *id = ct_xml_child_text(org, "Id"), *dn = ct_xml_child_text(org, "DomainName");
    const char *op = ct_xml_child_text(org, "OriginPath");
    const char *oac = ct_xml_child_text(org, "OriginAccessControlId");
    const ct_xml_node *coc = ct_xml_child(org, "CustomOriginConfig");
    if (!id || !*id || !dn)
        return cf_failf(f, 400, "InvalidOrigin", "The specified origin server does not exist or is "
                                             "not valid.");
    if (op && *op && (op[0] != '/' || op[strlen(op) - 1] == '/' || strlen(op) > 255))
        return cf_failf(f, 400, "InvalidArgument",
                    "OriginPath must start with a slash and must not end with one");
    if (coc ? parse_custom(org, coc, dn, op, o, f) : parse_s3(e, dn, o, f))
        return -1;
    if (oac && *oac && !edge_oac_exists(e, oac))
        return cf_failf(f, 400, "InvalidOriginAccessControl",
                        "The origin access control %.40s does not exist.", oac);
    json_object_set_new(o, "originId", json_string(id));
    json_object_set_new(o, "originPath", json_string(op ? op : ""));
    json_object_set_new(o, "originAccessControlId", json_string(oac ? oac : ""));
    char hp[EDGE_HOST_MAX + 8];
    if (!edge_dist_origin_allowed(e, o, hp, sizeof hp))
        return cf_failf(f, 400, "InvalidOrigin",
                        "The origin %s is not allowed on this edge: its operator lists the hosts "
                        "external origins may be read at with `cattube serve --origin-allow`.",
                        hp);
    return 0;
}

static int parse_key_groups(ct_edge *e, const ct_xml_node *tkg, json_t *o, cf_fail *f)
{
    int enabled = 0;
    json_t *arr = NULL;
    if (tkg && (cf_get_bool(tkg, "Enabled", &enabled, f) ||
                cf_get_items(tkg, "KeyGroup", EDGE_DIST_GROUPS_MAX, &arr, f)))
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
            return cf_failf(f, 400, "TrustedKeyGroupDoesNotExist",
                        "The key group %.40s does not exist", id);
        }
    }
    json_object_set_new(o, "trustedKeyGroups", arr);
    return 0;
}

/* AllowedMethods: the edge serves reads only (it forwards nothing to the
 * origin), so GET, HEAD and OPTIONS are the methods it takes. */
static int check_methods(const ct_xml_node *b, cf_fail *f)
{
    const ct_xml_node *am = ct_xml_child(b, "AllowedMethods");
    const ct_xml_node *items = ct_xml_child(am, "Items");
    for (const ct_xml_node *m = items ? items->first_child : NULL; m; m = m->next) {
        const char *v = cf_text_of(m);
        if (strcmp(v, "GET") && strcmp(v, "HEAD") && strcmp(v, "OPTIONS"))
            return cf_failf(f, 400, "InvalidArgument",
                            "AllowedMethods %.16s is not supported by CatTube (the edge serves "
                            "GET, HEAD and OPTIONS)",
                            v);
    }
    return 0;
}

/* One cache behavior's settings (DefaultCacheBehavior or a CacheBehavior)
 * into o; oid is the origin's Id that TargetOriginId must name. */
static int parse_behavior_node(ct_edge *e, const ct_xml_node *b, const char *oid, json_t *o,
                               cf_fail *f)
{
    static const char *const known[] = {"PathPattern", "TargetOriginId", "TrustedKeyGroups",
                                        "ViewerProtocolPolicy", "MinTTL", "DefaultTTL",
                                        "MaxTTL", "Compress", NULL};
    static const char *const ignored[] = {"AllowedMethods", "ForwardedValues",
                                          "CachePolicyId", "OriginRequestPolicyId",
                                          "ResponseHeadersPolicyId", NULL};
    if (cf_check_unsupported(b, known, ignored, f) || check_methods(b, f))
        return -1;
    const char *target = ct_xml_child_text(b, "TargetOriginId");
    if (!target || !oid || strcmp(target, oid))
        return cf_failf(f, 400, "NoSuchOrigin",
                    "One or more of your origins or origin groups do not exist.");
    const char *vpp = ct_xml_child_text(b, "ViewerProtocolPolicy");
    edge_vpp p;
    if (!vpp || edge_vpp_parse(vpp, &p))
        return cf_failf(f, 400, "InvalidArgument", "ViewerProtocolPolicy must be one of "
                                               "redirect-to-https, https-only, allow-all");
    json_object_set_new(o, "viewerProtocolPolicy", json_string(edge_vpp_name(p)));
    if (cf_get_ttl(b, "MinTTL", 0, o, "minTTL", f) ||
        cf_get_ttl(b, "DefaultTTL", EDGE_DEFAULT_TTL, o, "defaultTTL", f) ||
        cf_get_ttl(b, "MaxTTL", EDGE_MAX_TTL, o, "maxTTL", f))
        return -1;
    int compress = 0;
    if (ct_xml_child(b, "Compress") && cf_get_bool(b, "Compress", &compress, f))
        return -1;
    json_object_set_new(o, "compress", json_boolean(compress));
    return parse_key_groups(e, ct_xml_child(b, "TrustedKeyGroups"), o, f);
}

/* CacheBehaviors: ordered path patterns, each with its own settings. */
static int parse_cache_behaviors(ct_edge *e, const ct_xml_node *cfg, const char *oid,
                                 json_t *o, cf_fail *f)
{
    const ct_xml_node *cbs = ct_xml_child(cfg, "CacheBehaviors");
    const ct_xml_node *items = ct_xml_child(cbs, "Items");
    json_t *arr = json_array();
    json_object_set_new(o, "cacheBehaviors", arr);
    size_t n = 0;
    for (const ct_xml_node *c = items ? items->first_child : NULL; c; c = c->next) {
        if (strcmp(c->name, "CacheBehavior"))
            continue;
        if (++n > EDGE_BEHAVIORS_MAX)
            return cf_failf(f, 400, "TooManyCacheBehaviors",
                            "CatTube supports at most %d cache behaviors", EDGE_BEHAVIORS_MAX);
        const char *pat = ct_xml_child_text(c, "PathPattern");
        if (!pat || !*pat || strlen(pat) > 255)
            return cf_failf(f, 400, "InvalidArgument",
                            "CacheBehavior.PathPattern is required (at most 255 characters)");
        json_t *bo = json_pack("{s:s}", "pathPattern", pat);
        json_array_append_new(arr, bo);
        if (parse_behavior_node(e, c, oid, bo, f))
            return -1;
    }
    const char *q = ct_xml_child_text(cbs, "Quantity");
    if (cbs && (!q || strtoul(q, NULL, 10) != n))
        return cf_failf(f, 400, "InvalidArgument", "CacheBehaviors.Quantity does not match its items");
    return 0;
}

static int parse_behavior(ct_edge *e, const ct_xml_node *cfg, json_t *o, cf_fail *f)
{
    const ct_xml_node *b = ct_xml_child(cfg, "DefaultCacheBehavior");
    if (!b)
        return cf_failf(f, 400, "MalformedInput", "DefaultCacheBehavior is required");
    const char *oid = json_string_value(json_object_get(o, "originId"));
    return parse_behavior_node(e, b, oid, o, f) || parse_cache_behaviors(e, cfg, oid, o, f);
}

static int parse_aliases(ct_edge *e, const ct_xml_node *cfg, json_t *o, cf_fail *f)
{
    const ct_xml_node *al = ct_xml_child(cfg, "Aliases");
    json_t *arr = NULL;
    if (!al) {
        json_object_set_new(o, "aliases", json_array());
        return 0;
    }
    if (cf_get_items(al, "CNAME", EDGE_ALIASES_MAX, &arr, f))
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
            return cf_failf(f, 400, "InvalidArgument", "The alias %.64s is not a valid host name",
                        s);
        }
        char lower[EDGE_HOST_MAX + 2];
        snprintf(lower, sizeof lower, "%s%s", check == s ? "" : "*.", host);
        if (strlen(lower) >= EDGE_HOST_MAX) {
            json_decref(arr);
            return cf_failf(f, 400, "InvalidArgument", "The alias %.64s is too long", s);
        }
        json_array_set_new(arr, i, json_string(lower));
    }
    json_object_set_new(o, "aliases", arr);
    return 0;
}

static int error_code_ok(long v, int allow_200)
{
    static const long codes[] = {400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504};
    for (size_t i = 0; i < CT_ARRAY_LEN(codes); i++)
        if (v == codes[i])
            return 1;
    return allow_200 && v == 200;
}

/* One CustomErrorResponse into a new JSON object appended to arr. */
static int parse_error_response(const ct_xml_node *c, json_t *arr, cf_fail *f)
{
    static const char *const known[] = {"ErrorCode", "ResponsePagePath", "ResponseCode",
                                        "ErrorCachingMinTTL", NULL};
    static const char *const none[] = {NULL};
    if (cf_check_unsupported(c, known, none, f))
        return -1;
    const char *ec = ct_xml_child_text(c, "ErrorCode"), *page = ct_xml_child_text(c, "ResponsePagePath");
    const char *rc = ct_xml_child_text(c, "ResponseCode");
    long code = ec ? strtol(ec, NULL, 10) : 0;
    if (!error_code_ok(code, 0))
        return cf_failf(f, 400, "InvalidErrorCode", "The error code %.8s is not valid.",
                        ec ? ec : "(missing)");
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x) if (json_integer_value(json_object_get(x, "errorCode")) == code)
        return cf_failf(f, 400, "InvalidArgument", "ErrorCode %ld appears twice", code);
    if (page && *page && (page[0] != '/' || strlen(page) > 255))
        return cf_failf(f, 400, "InvalidArgument",
                        "ResponsePagePath must start with a slash (at most 255 characters)");
    if (rc && *rc && (!error_code_ok(strtol(rc, NULL, 10), 1) || !page || !*page))
        return cf_failf(f, 400, "InvalidResponseCode",
                        "The response code %.8s is not valid, or has no ResponsePagePath.", rc);
    json_t *o = json_pack("{s:I, s:s, s:s}", "errorCode", (json_int_t)code, "responsePagePath",
                          page ? page : "", "responseCode", rc ? rc : "");
    json_array_append_new(arr, o);
    const char *ttl = ct_xml_child_text(c, "ErrorCachingMinTTL");
    if (ttl && !*ttl) { /* an empty element: "no value", CloudFront's default */
        json_object_set_new(o, "errorCachingMinTTL", json_integer(10));
        return 0;
    }
    /* the seconds this code's errors are cached (edge_cache.c) */
    return cf_get_ttl(c, "ErrorCachingMinTTL", 10, o, "errorCachingMinTTL", f);
}

static int parse_error_responses(const ct_xml_node *cfg, json_t *o, cf_fail *f)
{
    const ct_xml_node *n = ct_xml_child(cfg, "CustomErrorResponses");
    const ct_xml_node *items = ct_xml_child(n, "Items");
    json_t *arr = json_array();
    json_object_set_new(o, "customErrorResponses", arr);
    size_t count = 0;
    for (const ct_xml_node *c = items ? items->first_child : NULL; c; c = c->next) {
        if (strcmp(c->name, "CustomErrorResponse"))
            continue;
        if (++count > EDGE_ERRORS_MAX || parse_error_response(c, arr, f))
            return f->status ? -1
                             : cf_failf(f, 400, "InvalidArgument", "Too many CustomErrorResponses");
    }
    const char *q = ct_xml_child_text(n, "Quantity");
    if (n && (!q || strtoul(q, NULL, 10) != count))
        return cf_failf(f, 400, "InvalidArgument",
                        "CustomErrorResponses.Quantity does not match its items");
    return 0;
}

static void x_errors(ct_buf *b, const json_t *d)
{
    json_t *arr = json_object_get(d, "customErrorResponses"), *x;
    size_t i;
    ct_buf_printf(b, "<CustomErrorResponses><Quantity>%zu</Quantity>", json_array_size(arr));
    if (json_array_size(arr))
        ct_buf_puts(b, "<Items>");
    json_array_foreach(arr, i, x)
    {
        ct_buf_printf(b, "<CustomErrorResponse><ErrorCode>%lld</ErrorCode>",
                      (long long)json_integer_value(json_object_get(x, "errorCode")));
        cf_x_text(b, "ResponsePagePath", cf_js(x, "responsePagePath"));
        cf_x_text(b, "ResponseCode", cf_js(x, "responseCode"));
        ct_buf_printf(b, "<ErrorCachingMinTTL>%lld</ErrorCachingMinTTL></CustomErrorResponse>",
                      (long long)json_integer_value(json_object_get(x, "errorCachingMinTTL")));
    }
    ct_buf_puts(b, json_array_size(arr) ? "</Items></CustomErrorResponses>"
                                        : "</CustomErrorResponses>");
}

/* DistributionConfig -> the stored fields. */
int cf_parse_config(ct_edge *e, const ct_xml_node *cfg, json_t *o, cf_fail *f)
{
    static const char *const known[] = {"CallerReference", "Aliases", "DefaultRootObject",
                                        "Origins", "DefaultCacheBehavior", "CacheBehaviors",
                                        "CustomErrorResponses", "Comment", "Enabled", NULL};
    static const char *const ignored[] = {"PriceClass", "HttpVersion", "IsIPV6Enabled",
                                          "ViewerCertificate", "Restrictions", NULL};
    if (!cfg || strcmp(cfg->name, "DistributionConfig"))
        return cf_failf(f, 400, "MalformedInput", "The body must be a DistributionConfig");
    if (cf_check_unsupported(cfg, known, ignored, f))
        return -1;
    const char *cref = ct_xml_child_text(cfg, "CallerReference");
    const char *comment = ct_xml_child_text(cfg, "Comment");
    const char *root = ct_xml_child_text(cfg, "DefaultRootObject");
    int enabled = 0;
    if (!cref || !*cref || strlen(cref) > 128)
        return cf_failf(f, 400, "MalformedInput", "CallerReference is required");
    if (!comment || strlen(comment) > 128)
        return cf_failf(f, 400, "InvalidArgument", "Comment is required (at most 128 characters)");
    if (root && (strlen(root) > 255 || root[0] == '/'))
        return cf_failf(f, 400, "InvalidDefaultRootObject",
                    "The specified default root object is invalid.");
    if (cf_get_bool(cfg, "Enabled", &enabled, f))
        return -1;
    json_object_set_new(o, "callerReference", json_string(cref));
    json_object_set_new(o, "comment", json_string(comment));
    json_object_set_new(o, "enabled", json_boolean(enabled));
    json_object_set_new(o, "defaultRootObject", json_string(root ? root : ""));
    return parse_origin(e, cfg, o, f) || parse_behavior(e, cfg, o, f) ||
                   parse_aliases(e, cfg, o, f) || parse_error_responses(cfg, o, f)
               ? -1
               : 0;
}

static void x_origins(ct_buf *b, const json_t *d)
{
    const char *oid = cf_js(d, "originId"), *dn = cf_js(d, "originDomainName");
    char def_dn[128];
    snprintf(def_dn, sizeof def_dn, "%s.s3.amazonaws.com", cf_js(d, "originBucket"));
    ct_buf_puts(b, "<Origins><Quantity>1</Quantity><Items><Origin>");
    cf_x_text(b, "Id", *oid ? oid : cf_js(d, "originBucket"));
    cf_x_text(b, "DomainName", *dn ? dn : def_dn);
    cf_x_text(b, "OriginPath", cf_js(d, "originPath"));
    ct_buf_puts(b, "<CustomHeaders><Quantity>0</Quantity></CustomHeaders>");
    if (!strcmp(cf_js(d, "originType"), "custom")) /* what was sent, CloudFront's defaults */
        ct_buf_printf(b, "<CustomOriginConfig><HTTPPort>%lld</HTTPPort><HTTPSPort>%lld"
                         "</HTTPSPort><OriginProtocolPolicy>%s</OriginProtocolPolicy>"
                         "<OriginSslProtocols><Quantity>1</Quantity><Items><SslProtocol>TLSv1.2"
                         "</SslProtocol></Items></OriginSslProtocols><OriginReadTimeout>30"
                         "</OriginReadTimeout><OriginKeepaliveTimeout>5</OriginKeepaliveTimeout>"
                         "</CustomOriginConfig>",
                      (long long)json_integer_value(json_object_get(d, "originHttpPort")),
                      (long long)json_integer_value(json_object_get(d, "originHttpsPort")),
                      cf_js(d, "originProtocolPolicy"));
    else
        ct_buf_puts(b, "<S3OriginConfig><OriginAccessIdentity></OriginAccessIdentity>"
                       "</S3OriginConfig>");
    ct_buf_puts(b, "<ConnectionAttempts>3</ConnectionAttempts>"
                   "<ConnectionTimeout>10</ConnectionTimeout>");
    cf_x_text(b, "OriginAccessControlId", cf_js(d, "originAccessControlId"));
    ct_buf_puts(b, "</Origin></Items></Origins>");
}

/* The settings of one behavior (d: the distribution or a cacheBehaviors item). */
static void x_behavior_body(ct_buf *b, const json_t *d, const char *target)
{
    json_t *groups = json_object_get(d, "trustedKeyGroups");
    cf_x_text(b, "TargetOriginId", target);
    ct_buf_puts(b, "<TrustedSigners><Enabled>false</Enabled><Quantity>0</Quantity>"
                   "</TrustedSigners>");
    ct_buf_printf(b, "<TrustedKeyGroups><Enabled>%s</Enabled><Quantity>%zu</Quantity>",
                  json_array_size(groups) ? "true" : "false", json_array_size(groups));
    if (json_array_size(groups)) {
        size_t i;
        json_t *g;
        ct_buf_puts(b, "<Items>");
        json_array_foreach(groups, i, g) cf_x_text(b, "KeyGroup", json_string_value(g));
        ct_buf_puts(b, "</Items>");
    }
    ct_buf_puts(b, "</TrustedKeyGroups>");
    cf_x_text(b, "ViewerProtocolPolicy", cf_js(d, "viewerProtocolPolicy"));
    ct_buf_printf(b, "<MinTTL>%lld</MinTTL><DefaultTTL>%lld</DefaultTTL><MaxTTL>%lld</MaxTTL>",
                  (long long)json_integer_value(json_object_get(d, "minTTL")),
                  (long long)json_integer_value(json_object_get(d, "defaultTTL")),
                  (long long)json_integer_value(json_object_get(d, "maxTTL")));
    ct_buf_printf(b, "<Compress>%s</Compress>",
                  json_is_true(json_object_get(d, "compress")) ? "true" : "false");
}

static void x_behavior(ct_buf *b, const json_t *d)
{
    const char *oid = cf_js(d, "originId");
    const char *target = *oid ? oid : cf_js(d, "originBucket");
    ct_buf_puts(b, "<DefaultCacheBehavior>");
    x_behavior_body(b, d, target);
    ct_buf_puts(b, "</DefaultCacheBehavior>");
    json_t *cbs = json_object_get(d, "cacheBehaviors"), *c;
    size_t i;
    ct_buf_printf(b, "<CacheBehaviors><Quantity>%zu</Quantity>", json_array_size(cbs));
    if (json_array_size(cbs))
        ct_buf_puts(b, "<Items>");
    json_array_foreach(cbs, i, c)
    {
        ct_buf_puts(b, "<CacheBehavior>");
        cf_x_text(b, "PathPattern", cf_js(c, "pathPattern"));
        x_behavior_body(b, c, target);
        ct_buf_puts(b, "</CacheBehavior>");
    }
    ct_buf_puts(b, json_array_size(cbs) ? "</Items></CacheBehaviors>" : "</CacheBehaviors>");
}

void cf_x_config(ct_buf *b, const json_t *d, const char *tag)
{
    ct_buf_printf(b, "<%s>", tag);
    const char *cref = cf_js(d, "callerReference");
    cf_x_text(b, "CallerReference", *cref ? cref : cf_js(d, "id"));
    cf_x_list(b, "Aliases", "CNAME", json_object_get(d, "aliases"));
    cf_x_text(b, "DefaultRootObject", cf_js(d, "defaultRootObject"));
    x_origins(b, d);
    x_behavior(b, d);
    x_errors(b, d);
    cf_x_text(b, "Comment", cf_js(d, "comment"));
    ct_buf_printf(b, "<PriceClass>PriceClass_All</PriceClass><Enabled>%s</Enabled>"
                     "<HttpVersion>http1.1</HttpVersion><IsIPV6Enabled>true</IsIPV6Enabled>",
                  json_is_false(json_object_get(d, "enabled")) ? "false" : "true");
    ct_buf_printf(b, "</%s>", tag);
}

void cf_x_distribution(ct_buf *b, const json_t *d, int root)
{
    ct_buf_printf(b, "<Distribution%s>", root ? " xmlns=\"" CF_NS "\"" : "");
    cf_x_text(b, "Id", cf_js(d, "id"));
    cf_x_text(b, "ARN", cf_js(d, "arn"));
    cf_x_text(b, "Status", "Deployed");
    cf_x_text(b, "LastModifiedTime", cf_js(d, "lastModifiedAt"));
    ct_buf_puts(b, "<InProgressInvalidationBatches>0</InProgressInvalidationBatches>");
    cf_x_text(b, "DomainName", cf_js(d, "domainName"));
    cf_x_config(b, d, "DistributionConfig");
    ct_buf_puts(b, "</Distribution>");
}

void cf_x_summary(ct_buf *b, const json_t *d)
{
    ct_buf_puts(b, "<DistributionSummary>");
    cf_x_text(b, "Id", cf_js(d, "id"));
    cf_x_text(b, "ARN", cf_js(d, "arn"));
    cf_x_text(b, "Status", "Deployed");
    cf_x_text(b, "LastModifiedTime", cf_js(d, "lastModifiedAt"));
    cf_x_text(b, "DomainName", cf_js(d, "domainName"));
    cf_x_list(b, "Aliases", "CNAME", json_object_get(d, "aliases"));
    x_origins(b, d);
    ct_buf_puts(b, "<OriginGroups><Quantity>0</Quantity></OriginGroups>");
    x_behavior(b, d);
    x_errors(b, d);
    cf_x_text(b, "Comment", cf_js(d, "comment"));
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
