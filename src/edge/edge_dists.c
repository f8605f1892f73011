/* edge_dists.c: distributions — the in-memory routing table and the shared
 * store that the admin JSON API (edge_admin.c), the CloudFront API
 * (edge_cloudfront.c) and the standalone edge's sync (edge_sync.c) use.
 *
 * A distribution is stored in meta as its wire JSON; domainName and url are
 * derived on output from the current public host and HTTPS port, so a
 * restart on another port keeps the printed URLs right. The routing table is
 * reloaded from meta after every change made here. */
#include "edge/edge_internal.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

/* ---- routing table ---- */

typedef struct {
    ct_edge *e;
    edge_dist *v;
    size_t n, cap;
} dist_vec;

/* The behavior settings of a distribution (its default) or a cacheBehaviors item. */
static int behavior_from_json(json_t *j, edge_behavior *b)
{
    memset(b, 0, sizeof *b);
    if (edge_vpp_parse(json_string_value(json_object_get(j, "viewerProtocolPolicy")), &b->policy))
        b->policy = EDGE_VPP_REDIRECT;
    json_t *dt = json_object_get(j, "defaultTTL"), *mn = json_object_get(j, "minTTL");
    json_t *mx = json_object_get(j, "maxTTL");
    b->default_ttl = dt ? json_integer_value(dt) : EDGE_DEFAULT_TTL;
    b->min_ttl = mn ? json_integer_value(mn) : 0;
    b->max_ttl = mx ? json_integer_value(mx) : EDGE_MAX_TTL;
    b->compress = json_is_true(json_object_get(j, "compress"));
    json_t *groups = json_object_get(j, "trustedKeyGroups"), *g;
    size_t i;
    json_array_foreach(groups, i, g)
    {
        const char *gid = json_string_value(g);
        if (!gid || strlen(gid) != EDGE_GROUP_ID_LEN || b->n_groups == EDGE_DIST_GROUPS_MAX)
            return -1; /* fail closed: never serve a protected distribution openly */
        memcpy(b->groups[b->n_groups++], gid, EDGE_GROUP_ID_LEN + 1);
    }
    return 0;
}

static void apply_behavior(edge_dist *d, const edge_behavior *b)
{
    d->policy = b->policy;
    d->default_ttl = b->default_ttl;
    d->min_ttl = b->min_ttl;
    d->max_ttl = b->max_ttl;
    d->compress = b->compress;
    d->n_groups = b->n_groups;
    memcpy(d->groups, b->groups, sizeof d->groups);
}

int edge_behavior_select(edge_dist *d, const char *path, size_t path_len)
{
    char p[EDGE_RESOURCE_MAX];
    if (!d->n_behaviors || path_len >= sizeof p)
        return -1;
    memcpy(p, path, path_len);
    p[path_len] = '\0';
    for (size_t i = 0; i < d->n_behaviors; i++) {
        const char *pat = d->behaviors[i].pattern;
        /* a pattern with or without the leading slash; '*' spans '/' too */
        if (edge_glob_match(pat, pat[0] == '/' ? p : p + 1)) {
            apply_behavior(d, &d->behaviors[i]);
            return (int)i;
        }
    }
    return -1;
}

static int dist_from_json(json_t *j, edge_dist *d)
{
    memset(d, 0, sizeof *d);
    const char *id = json_string_value(json_object_get(j, "id"));
    const char *bucket = json_string_value(json_object_get(j, "originBucket"));
    json_t *en = json_object_get(j, "enabled");
    if (!edge_dist_id_valid(id) || !bucket || strlen(bucket) >= sizeof d->origin_bucket)
        return -1;
    memcpy(d->id, id, EDGE_ID_LEN + 1);
    strcpy(d->origin_bucket, bucket);
    d->enabled = en ? json_is_true(en) : 1;
    const char *oac = json_string_value(json_object_get(j, "originAccessControlId"));
    if (oac && strlen(oac) >= sizeof d->oac_id)
        return -1;
    strcpy(d->oac_id, oac ? oac : "");
    const char *arn = json_string_value(json_object_get(j, "arn"));
    snprintf(d->arn, sizeof d->arn, "%s", arn ? arn : "");
    edge_behavior def;
    if (behavior_from_json(j, &def))
        return -1;
    apply_behavior(d, &def);
    json_t *cbs = json_object_get(j, "cacheBehaviors"), *c;
    size_t i;
    json_array_foreach(cbs, i, c)
    {
        const char *pat = json_string_value(json_object_get(c, "pathPattern"));
        edge_behavior *b = &d->behaviors[d->n_behaviors];
        if (d->n_behaviors == EDGE_BEHAVIORS_MAX || !pat || strlen(pat) >= sizeof b->pattern ||
            behavior_from_json(c, b))
            return -1; /* fail closed */
        strcpy(b->pattern, pat);
        d->n_behaviors++;
    }
    json_t *ers = json_object_get(j, "customErrorResponses"), *er;
    json_array_foreach(ers, i, er)
    {
        const char *page = json_string_value(json_object_get(er, "responsePagePath"));
        const char *rc = json_string_value(json_object_get(er, "responseCode"));
        edge_error_page *ep = &d->errors[d->n_errors];
        if (d->n_errors == EDGE_ERRORS_MAX || (page && strlen(page) >= sizeof ep->page))
            return -1;
        ep->code = (int)json_integer_value(json_object_get(er, "errorCode"));
        snprintf(ep->page, sizeof ep->page, "%s", page ? page : "");
        ep->response_code = rc && *rc ? atoi(rc) : 0;
        ep->caching_min_ttl = json_integer_value(json_object_get(er, "errorCachingMinTTL"));
        d->n_errors++;
    }
    const char *op = json_string_value(json_object_get(j, "originPath"));
    const char *ro = json_string_value(json_object_get(j, "defaultRootObject"));
    if ((op && strlen(op) >= sizeof d->origin_path) || (ro && strlen(ro) >= sizeof d->root_object))
        return -1;
    strcpy(d->origin_path, op ? op : "");
    strcpy(d->root_object, ro ? ro : "");
    json_t *aliases = json_object_get(j, "aliases"), *a;
    json_array_foreach(aliases, i, a)
    {
        const char *s = json_string_value(a);
        if (!s || strlen(s) >= EDGE_HOST_MAX || d->n_aliases == EDGE_ALIASES_MAX)
            return -1;
        strcpy(d->aliases[d->n_aliases++], s);
    }
    return 0;
}

/* Where d's origin is read (see edge_dist.origin_url): a custom origin at
 * its DomainName and ports (OriginPath's first segment is the bucket, the
 * rest the key prefix); an external S3 bucket at --external-s3-endpoint or
 * its region's AWS endpoint; a bucket of the API node through the
 * standalone edge's --origin; else this node's store. -1: unusable. */
static int origin_from_json(ct_edge *e, json_t *j, edge_dist *d)
{
    const char *type = json_string_value(json_object_get(j, "originType"));
    const char *region = json_string_value(json_object_get(j, "originRegion"));
    int n = 0;
    if (type && !strcmp(type, "custom")) {
        const char *host = json_string_value(json_object_get(j, "originDomainName"));
        const char *pp = json_string_value(json_object_get(j, "originProtocolPolicy"));
        long hp = (long)json_integer_value(json_object_get(j, "originHttpPort"));
        long sp = (long)json_integer_value(json_object_get(j, "originHttpsPort"));
        if (!host || !*host || !pp || strlen(host) >= EDGE_HOST_MAX)
            return -1;
        int https = strcmp(pp, "http-only") != 0;
        n = snprintf(d->origin_url, sizeof d->origin_url, "%s://%s:%ld", https ? "https" : "http",
                     host, https ? sp : hp);
        if (!strcmp(pp, "match-viewer"))
            snprintf(d->origin_url_http, sizeof d->origin_url_http, "http://%s:%ld", host, hp);
        snprintf(d->origin_region, sizeof d->origin_region, "%s",
                 e->origin_region ? e->origin_region : "");
        /* the key prefix is what follows the bucket in OriginPath */
        size_t bl = strlen(d->origin_bucket);
        if (strncmp(d->origin_path, "/", 1) || strncmp(d->origin_path + 1, d->origin_bucket, bl))
            return -1;
        memmove(d->origin_path, d->origin_path + 1 + bl, strlen(d->origin_path + 1 + bl) + 1);
    } else if (type && !strcmp(type, "s3-external")) {
        if (!region || !*region || strlen(region) >= sizeof d->origin_region)
            return -1;
        strcpy(d->origin_region, region);
        if (e->external_s3_endpoint)
            n = snprintf(d->origin_url, sizeof d->origin_url, "%s", e->external_s3_endpoint);
        else
            n = snprintf(d->origin_url, sizeof d->origin_url, "https://s3.%s.amazonaws.com",
                         region);
    } else if (e->origin_url) {
        n = snprintf(d->origin_url, sizeof d->origin_url, "%s", e->origin_url);
        snprintf(d->origin_region, sizeof d->origin_region, "%s",
                 e->origin_region ? e->origin_region : "");
        d->origin_node = 1;
    }
    if (n < 0 || (size_t)n >= sizeof d->origin_url)
        return -1;
    if (d->origin_url[0] && !d->origin_node) { /* external: --origin-allow decides */
        char hp[EDGE_HOST_MAX + 8];
        d->origin_refused = !edge_allow_url(e->allow, d->origin_url, hp, sizeof hp);
        d->origin_refused_http =
            d->origin_url_http[0] && !edge_allow_url(e->allow, d->origin_url_http, hp, sizeof hp);
    }
    return 0;
}

void edge_dist_origin_for_viewer(edge_dist *d, int secure)
{
    if (!secure && d->origin_url_http[0]) {
        memcpy(d->origin_url, d->origin_url_http, sizeof d->origin_url);
        d->origin_refused = d->origin_refused_http;
    }
}

/* The first refused "HOST:PORT" of d's origin URLs into hp; 0 when none. */
static int refused_host(const ct_edge *e, const edge_dist *d, char *hp, size_t n)
{
    if (!d->origin_url[0] || d->origin_node)
        return 0;
    return !edge_allow_url(e->allow, d->origin_url, hp, n) ||
           (d->origin_url_http[0] && !edge_allow_url(e->allow, d->origin_url_http, hp, n));
}

int edge_dist_origin_allowed(ct_edge *e, void *oj, char *hostport, size_t n)
{
    json_t *o = oj;
    edge_dist d;
    memset(&d, 0, sizeof d);
    const char *bucket = json_string_value(json_object_get(o, "originBucket"));
    const char *op = json_string_value(json_object_get(o, "originPath"));
    snprintf(d.origin_bucket, sizeof d.origin_bucket, "%s", bucket ? bucket : "");
    snprintf(d.origin_path, sizeof d.origin_path, "%s", op ? op : "");
    if (origin_from_json(e, o, &d)) /* what cannot be resolved is never read */
        return 1;
    return !refused_host(e, &d, hostport, n);
}

void edge_dist_refused_log(const edge_dist *d)
{
    static _Atomic int64_t last_ms;
    int64_t now = ct_now_ms(), prev = atomic_load(&last_ms);
    char hp[EDGE_HOST_MAX + 8];
    unsigned port = 0;
    if (now - prev < 10000 || !atomic_compare_exchange_strong(&last_ms, &prev, now))
        return;
    if (edge_allow_url_split(d->origin_url, hp, sizeof hp - 8, &port))
        snprintf(hp, sizeof hp, "?");
    ct_warn("edge: distribution %s: origin %s:%u is not in --origin-allow: answered 502, "
            "not contacted", d->id, hp, port);
}

/* How specifically one of d's aliases names host: 0 = none; a wildcard
 * "*.example.com" (one or more leading labels, never example.com itself)
 * scores the length of its suffix; an exact alias beats every wildcard. */
static size_t alias_match(const edge_dist *d, const char *host)
{
    size_t best = 0, hl = strlen(host);
    for (size_t i = 0; i < d->n_aliases; i++) {
        const char *a = d->aliases[i];
        if (strcmp(a, host) == 0)
            return SIZE_MAX;
        if (a[0] == '*' && a[1] == '.') {
            size_t al = strlen(a + 1);
            if (hl > al && strcmp(host + hl - al, a + 1) == 0 && al > best)
                best = al;
        }
    }
    return best;
}

static ct_err collect_dist(void *ctx, const char *json)
{
    dist_vec *v = ctx;
    json_t *j = json_loads(json, 0, NULL);
    edge_dist d;
    int bad = !j || dist_from_json(j, &d) || origin_from_json(v->e, j, &d);
    json_decref(j);
    if (bad) {
        ct_warn("edge: skipping a malformed stored distribution");
        return CT_OK;
    }
    char hp[EDGE_HOST_MAX + 8];
    if (refused_host(v->e, &d, hp, sizeof hp))
        ct_warn("edge: distribution %s: origin %s is not in --origin-allow: its requests "
                "answer 502 and it is never contacted", d.id, hp);
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        edge_dist *nv = realloc(v->v, cap * sizeof *nv);
        if (!nv)
            return CT_ERR_NOMEM;
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = d;
    return CT_OK;
}

ct_err edge_dists_reload(ct_edge *e)
{
    dist_vec v = {e, NULL, 0, 0};
    ct_err err = ct_meta_distribution_list(e->meta, collect_dist, &v);
    if (err) {
        free(v.v);
        return err;
    }
    pthread_rwlock_wrlock(&e->lock);
    edge_dist *old = e->dists;
    e->dists = v.v;
    e->n_dists = v.n;
    pthread_rwlock_unlock(&e->lock);
    free(old);
    return CT_OK;
}

int edge_route(ct_edge *e, const char *host_name, edge_dist *out)
{
    char id[EDGE_ID_LEN + 1];
    int named = host_name && *host_name && edge_host_dist_label(host_name, id);
    int rc = -1;
    pthread_rwlock_rdlock(&e->lock);
    /* Overlapping aliases (www.example.com here, *.example.com there): the
     * more specific name wins, as at CloudFront; a tie goes to the newest. */
    size_t best = 0, at = 0;
    for (size_t i = e->n_dists; !named && host_name && i-- > 0;) {
        size_t m = alias_match(&e->dists[i], host_name);
        if (m > best) {
            best = m;
            at = i;
        }
    }
    if (best) {
        *out = e->dists[at];
        pthread_rwlock_unlock(&e->lock);
        return 0;
    }
    for (size_t i = e->n_dists; i-- > 0;) {
        const edge_dist *d = &e->dists[i];
        if (named ? strcmp(d->id, id) == 0 : d->enabled) {
            *out = *d;
            rc = 0;
            break;
        }
    }
    pthread_rwlock_unlock(&e->lock);
    return rc;
}

/* ---- wire form ---- */

static void add_wire_fields(ct_edge *e, json_t *j)
{
    const char *id = json_string_value(json_object_get(j, "id"));
    if (!id)
        return;
    char lower[EDGE_ID_LEN + 1], domain[EDGE_HOST_MAX + EDGE_ID_LEN + 2], url[sizeof domain + 16];
    size_t i = 0;
    for (; i < EDGE_ID_LEN && id[i]; i++)
        lower[i] = (char)(id[i] >= 'A' && id[i] <= 'Z' ? id[i] - 'A' + 'a' : id[i]);
    lower[i] = '\0';
    snprintf(domain, sizeof domain, "%s.%s", lower, e->suffix);
    if (e->https.port == 443)
        snprintf(url, sizeof url, "https://%s", domain);
    else
        snprintf(url, sizeof url, "https://%s:%u", domain, (unsigned)e->https.port);
    json_object_set_new(j, "domainName", json_string(domain));
    json_object_set_new(j, "url", json_string(url));
}

/* ---- shared store ---- */

static void new_etag(json_t *d)
{
    char tag[15];
    tag[0] = 'E';
    ct_random_alnum(tag + 1, 13, 1);
    tag[14] = '\0';
    json_object_set_new(d, "etag", json_string(tag));
}

ct_err edge_dist_create(ct_edge *e, void *fields)
{
    json_t *d = fields;
    char created[32], id[EDGE_ID_LEN + 1], arn[128];
    ct_time_iso8601(ct_now_ms(), created);
    ct_err err = CT_ERR_EXISTS;
    for (int attempt = 0; attempt < 5 && err == CT_ERR_EXISTS; attempt++) {
        id[0] = 'E';
        ct_random_alnum(id + 1, EDGE_ID_LEN - 1, 1);
        snprintf(arn, sizeof arn, "arn:aws:cloudfront::%s:distribution/%s", e->account_id, id);
        json_object_set_new(d, "id", json_string(id));
        json_object_set_new(d, "arn", json_string(arn));
        json_object_set_new(d, "status", json_string("Deployed"));
        json_object_set_new(d, "createdAt", json_string(created));
        json_object_set_new(d, "lastModifiedAt", json_string(created));
        new_etag(d);
        add_wire_fields(e, d); /* domainName at creation, kept for the record */
        char *text = json_dumps(d, JSON_COMPACT);
        err = text ? ct_meta_distribution_put(e->meta, id, text, 1) : CT_ERR_NOMEM;
        free(text);
    }
    if (err)
        return err;
    if ((err = edge_dists_reload(e)))
        ct_error("edge: reloading distributions: %s", ct_err_str(err));
    return CT_OK;
}

ct_err edge_dist_load(ct_edge *e, const char *id, void **out)
{
    char *json = NULL;
    ct_err err = edge_dist_id_valid(id) ? ct_meta_distribution_get(e->meta, id, &json)
                                        : CT_ERR_NOT_FOUND;
    if (err)
        return err;
    json_t *j = json_loads(json, 0, NULL);
    free(json);
    if (!j)
        return CT_ERR_INTERNAL;
    if (!json_object_get(j, "etag"))
        json_object_set_new(j, "etag", json_string("E1"));
    *out = j;
    return CT_OK;
}

ct_err edge_dist_save(ct_edge *e, const char *id, void *dv)
{
    json_t *d = dv;
    char now[32];
    ct_time_iso8601(ct_now_ms(), now);
    json_object_set_new(d, "lastModifiedAt", json_string(now));
    new_etag(d);
    char *text = json_dumps(d, JSON_COMPACT);
    ct_err err = text ? ct_meta_distribution_put(e->meta, id, text, 0) : CT_ERR_NOMEM;
    free(text);
    if (!err)
        err = edge_dists_reload(e);
    if (!err)
        edge_invalidate(e, id, "", 1);
    return err;
}

ct_err edge_dist_remove(ct_edge *e, const char *id)
{
    ct_err err = edge_dist_id_valid(id) ? ct_meta_distribution_delete(e->meta, id)
                                        : CT_ERR_NOT_FOUND;
    if (err)
        return err;
    if ((err = edge_dists_reload(e)))
        ct_error("edge: reloading distributions: %s", ct_err_str(err));
    edge_invalidate(e, id, "", 1);
    return CT_OK;
}

void edge_dist_wire(ct_edge *e, void *d) { add_wire_fields(e, d); }

void edge_dist_invalidate_path(ct_edge *e, const char *id, const char *path)
{
    size_t len = strlen(path);
    if (!len)
        return;
    int prefix = path[len - 1] == '*';
    ct_err err;
    char *key = edge_path_to_key(path, len - (size_t)prefix, &err);
    char *full = NULL;
    char op[sizeof ((edge_dist *)0)->origin_path] = "";
    pthread_rwlock_rdlock(&e->lock);
    for (size_t i = 0; i < e->n_dists; i++)
        if (!strcmp(e->dists[i].id, id))
            memcpy(op, e->dists[i].origin_path, sizeof op);
    pthread_rwlock_unlock(&e->lock);
    /* Cached entries are keyed on the origin key: OriginPath + the path. */
    if (key && op[0] && asprintf(&full, "%s/%s", op + 1, key) < 0)
        full = NULL;
    if (key && (!op[0] || full))
        edge_invalidate(e, id, full ? full : key, prefix);
    free(full);
    free(key);
}
static json_t *load_wire(ct_edge *e, const char *json)
{
    json_t *j = json_loads(json, 0, NULL);
    if (j)
        add_wire_fields(e, j);
    return j;
}

static ct_err collect_wire(void *ctx, const char *json)
{
    json_t **pair = ctx; /* {edge (as opaque), array} */
    json_t *j = load_wire((ct_edge *)(void *)pair[0], json);
    if (j)
        json_array_append_new(pair[1], j);
    return CT_OK;
}

ct_err edge_dist_list_all(ct_edge *e, void **out)
{
    json_t *arr = json_array();
    void *pair[2] = {e, arr};
    ct_err err = arr ? ct_meta_distribution_list(e->meta, collect_wire, pair) : CT_ERR_NOMEM;
    if (err) {
        json_decref(arr);
        return err;
    }
    *out = arr;
    return CT_OK;
}
