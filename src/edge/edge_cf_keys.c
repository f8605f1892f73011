/* edge_cf_keys.c: the CloudFront API's public keys and key groups
 * (/2020-05-31/public-key[/ID[/config]], /2020-05-31/key-group[/ID[/config]]):
 * Create, Get, GetConfig, List, Update (If-Match) and Delete (If-Match), in
 * botocore's cloudfront shapes, over the same meta records as the admin API
 * (edge_keys.c), so a key made either way signs for the same distributions.
 *
 * DESIGN: a record's ETag is derived from its content (E + 13 hex of the
 * SHA-256 of the stored JSON), so it changes with every update and records
 * made through the admin API have one too. As in CloudFront only a public
 * key's Comment can change (CannotChangeImmutablePublicKeyFields); names are
 * unique per kind (PublicKeyAlreadyExists / KeyGroupAlreadyExists). Every
 * change reloads the keyring the edge verifies signatures with. */
#include "edge/edge_cf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEYS_LIST_MAX 100
#define COMMENT_MAX 128
#define PEM_TEXT_MAX 8192

typedef struct {
    int group;              /* 0: public key, 1: key group */
    const char *kind;       /* meta kind */
    const char *path;       /* wire path segment */
    const char *none_code;  /* 404 code */
    const char *none_msg;
} kind_t;

static const kind_t K_KEY = {0, EDGE_KIND_KEY, "public-key", "NoSuchPublicKey",
                             "The specified public key does not exist."};
static const kind_t K_GROUP = {1, EDGE_KIND_GROUP, "key-group", "NoSuchResource",
                               "The specified key group does not exist."};

/* Sets rec's "etag" from its content (without the etag itself). */
static void set_etag(json_t *rec)
{
    json_object_del(rec, "etag");
    char *text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS), hex[65], tag[15];
    ct_sha256_hex(text ? text : "", text ? strlen(text) : 0, hex);
    free(text);
    tag[0] = 'E';
    for (int i = 0; i < 13; i++)
        tag[i + 1] = (char)(hex[i] >= 'a' ? hex[i] - 'a' + 'A' : hex[i]);
    tag[14] = '\0';
    json_object_set_new(rec, "etag", json_string(tag));
}

static int load(ct_edge *e, const kind_t *k, const char *id, json_t **out, cf_fail *f)
{
    char *text = NULL;
    ct_err err = ct_meta_edge_item_get(e->meta, k->kind, id, &text);
    json_t *rec = err ? NULL : json_loads(text, 0, NULL);
    free(text);
    if (err == CT_ERR_NOT_FOUND)
        return cf_failf(f, 404, k->none_code, "%s", k->none_msg);
    if (!json_is_object(rec)) {
        json_decref(rec);
        return cf_failf(f, 500, "InternalError", "Cannot read the %s: %s", k->path,
                        err ? ct_err_str(err) : "malformed record");
    }
    set_etag(rec);
    *out = rec;
    return 0;
}

static ct_err collect(void *ctx, const char *json)
{
    json_t *j = json_loads(json, 0, NULL);
    if (json_is_object(j)) {
        set_etag(j);
        json_array_append_new(ctx, j);
    } else {
        json_decref(j);
    }
    return CT_OK;
}

static int list_all(ct_edge *e, const kind_t *k, json_t **out, cf_fail *f)
{
    json_t *arr = json_array();
    ct_err err = arr ? ct_meta_edge_item_list(e->meta, k->kind, collect, arr) : CT_ERR_NOMEM;
    if (err) {
        json_decref(arr);
        return cf_failf(f, 500, "InternalError", "Cannot list: %s", ct_err_str(err));
    }
    *out = arr;
    return 0;
}

/* Another record of kind k (not self) named name: *AlreadyExists. */
static int name_taken(ct_edge *e, const kind_t *k, const char *name, const char *self,
                      cf_fail *f)
{
    json_t *all = NULL, *r;
    size_t i;
    int rc = 0;
    if (list_all(e, k, &all, f))
        return -1;
    json_array_foreach(all, i, r) if (!rc && !strcmp(cf_js(r, "name"), name) &&
                                      (!self || strcmp(cf_js(r, "id"), self)))
        rc = k->group ? cf_failf(f, 409, "KeyGroupAlreadyExists",
                                 "A key group with this name already exists.")
                      : cf_failf(f, 409, "PublicKeyAlreadyExists",
                                 "The specified public key already exists.");
    json_decref(all);
    return rc;
}

static int store(ct_edge *e, const kind_t *k, json_t *rec, int create, cf_fail *f)
{
    json_object_del(rec, "etag");
    char *text = json_dumps(rec, JSON_COMPACT);
    ct_err err = text ? ct_meta_edge_item_put(e->meta, k->kind, cf_js(rec, "id"), text, create)
                      : CT_ERR_NOMEM;
    free(text);
    if (!err)
        err = edge_keys_reload(e);
    set_etag(rec);
    return err ? cf_failf(f, 500, "InternalError", "Cannot store the %s: %s", k->path,
                          ct_err_str(err))
               : 0;
}

/* ---- parsing ---- */

static int parse_comment(const ct_xml_node *cfg, json_t *o, cf_fail *f)
{
    const char *c = ct_xml_child_text(cfg, "Comment");
    if (c && strlen(c) > COMMENT_MAX)
        return cf_failf(f, 400, "InvalidArgument", "%s.Comment is at most %d characters",
                        cfg->name, COMMENT_MAX);
    json_object_set_new(o, "comment", json_string(c ? c : ""));
    return 0;
}

static int parse_key(const ct_xml_node *cfg, json_t *o, cf_fail *f)
{
    static const char *const known[] = {"CallerReference", "Name", "EncodedKey", "Comment", NULL};
    static const char *const none[] = {NULL};
    if (!cfg || strcmp(cfg->name, "PublicKeyConfig"))
        return cf_failf(f, 400, "MalformedInput", "The body must be a PublicKeyConfig");
    if (cf_check_unsupported(cfg, known, none, f))
        return -1;
    const char *ref = ct_xml_child_text(cfg, "CallerReference");
    const char *name = ct_xml_child_text(cfg, "Name");
    const char *pem = ct_xml_child_text(cfg, "EncodedKey");
    if (!ref || !*ref || strlen(ref) > 128)
        return cf_failf(f, 400, "InvalidArgument",
                        "PublicKeyConfig.CallerReference is required (at most 128 characters)");
    if (!edge_key_name_ok(name))
        return cf_failf(f, 400, "InvalidArgument",
                        "PublicKeyConfig.Name is required: 1-128 characters of [A-Za-z0-9_-]");
    if (!pem || strlen(pem) >= PEM_TEXT_MAX || !edge_key_pem_ok(pem))
        return cf_failf(f, 400, "InvalidArgument",
                        "PublicKeyConfig.EncodedKey must be a PEM public key (RSA 2048-8192 "
                        "bits or EC)");
    json_object_set_new(o, "callerReference", json_string(ref));
    json_object_set_new(o, "name", json_string(name));
    json_object_set_new(o, "encodedKey", json_string(pem));
    return parse_comment(cfg, o, f);
}

static int parse_group(ct_edge *e, const ct_xml_node *cfg, json_t *o, cf_fail *f)
{
    static const char *const known[] = {"Name", "Items", "Comment", NULL};
    static const char *const none[] = {NULL};
    if (!cfg || strcmp(cfg->name, "KeyGroupConfig"))
        return cf_failf(f, 400, "MalformedInput", "The body must be a KeyGroupConfig");
    if (cf_check_unsupported(cfg, known, none, f))
        return -1;
    const char *name = ct_xml_child_text(cfg, "Name");
    if (!edge_key_name_ok(name))
        return cf_failf(f, 400, "InvalidArgument",
                        "KeyGroupConfig.Name is required: 1-128 characters of [A-Za-z0-9_-]");
    const ct_xml_node *items = ct_xml_child(cfg, "Items");
    json_t *ids = json_array();
    size_t n = 0;
    for (const ct_xml_node *c = items ? items->first_child : NULL; c; c = c->next) {
        const char *kid = cf_text_of(c);
        if (strcmp(c->name, "PublicKey"))
            continue;
        if (++n > EDGE_GROUP_KEYS_MAX) {
            json_decref(ids);
            return cf_failf(f, 400, "TooManyPublicKeysInKeyGroup",
                            "A key group holds at most %d public keys", EDGE_GROUP_KEYS_MAX);
        }
        if (strlen(kid) > EDGE_KEY_ID_MAX || !edge_key_exists(e, kid)) {
            json_decref(ids);
            return cf_failf(f, 400, "InvalidArgument", "The public key %.40s does not exist",
                            kid);
        }
        json_array_append_new(ids, json_string(kid));
    }
    if (n == 0) {
        json_decref(ids);
        return cf_failf(f, 400, "InvalidArgument",
                        "KeyGroupConfig.Items must list 1 to %d public key ids",
                        EDGE_GROUP_KEYS_MAX);
    }
    json_object_set_new(o, "name", json_string(name));
    json_object_set_new(o, "items", ids);
    return parse_comment(cfg, o, f);
}

/* ---- writing ---- */

static void x_key_config(ct_buf *b, const json_t *r, int root)
{
    ct_buf_printf(b, "<PublicKeyConfig%s>", root ? " xmlns=\"" CF_NS "\"" : "");
    /* Keys made through the admin API have no caller reference: their id. */
    cf_x_text(b, "CallerReference",
              *cf_js(r, "callerReference") ? cf_js(r, "callerReference") : cf_js(r, "id"));
    cf_x_text(b, "Name", cf_js(r, "name"));
    cf_x_text(b, "EncodedKey", cf_js(r, "encodedKey"));
    cf_x_text(b, "Comment", cf_js(r, "comment"));
    ct_buf_puts(b, "</PublicKeyConfig>");
}

static void x_group_config(ct_buf *b, const json_t *r, int root)
{
    ct_buf_printf(b, "<KeyGroupConfig%s>", root ? " xmlns=\"" CF_NS "\"" : "");
    cf_x_text(b, "Name", cf_js(r, "name"));
    ct_buf_puts(b, "<Items>");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(r, "items"), i, v)
        cf_x_text(b, "PublicKey", json_string_value(v) ? json_string_value(v) : "");
    ct_buf_puts(b, "</Items>");
    cf_x_text(b, "Comment", cf_js(r, "comment"));
    ct_buf_puts(b, "</KeyGroupConfig>");
}

static void x_record(ct_buf *b, const kind_t *k, const json_t *r, int root)
{
    const char *ns = root ? " xmlns=\"" CF_NS "\"" : "";
    const char *mod = *cf_js(r, "lastModifiedTime") ? cf_js(r, "lastModifiedTime")
                                                     : cf_js(r, "createdTime");
    if (k->group) {
        ct_buf_printf(b, "<KeyGroup%s>", ns);
        cf_x_text(b, "Id", cf_js(r, "id"));
        cf_x_text(b, "LastModifiedTime", mod);
        x_group_config(b, r, 0);
        ct_buf_puts(b, "</KeyGroup>");
    } else {
        ct_buf_printf(b, "<PublicKey%s>", ns);
        cf_x_text(b, "Id", cf_js(r, "id"));
        cf_x_text(b, "CreatedTime", cf_js(r, "createdTime"));
        x_key_config(b, r, 0);
        ct_buf_puts(b, "</PublicKey>");
    }
}

static void reply(ct_http_resp *resp, const kind_t *k, int status, const json_t *r,
                  int config_only)
{
    ct_buf b = CT_BUF_INIT;
    if (config_only && k->group)
        x_group_config(&b, r, 1);
    else if (config_only)
        x_key_config(&b, r, 1);
    else
        x_record(&b, k, r, 1);
    cf_reply_xml(resp, status, &b, cf_js(r, "etag"));
    ct_buf_free(&b);
}

static void key_summary(ct_buf *b, const json_t *r)
{
    ct_buf_puts(b, "<PublicKeySummary>");
    cf_x_text(b, "Id", cf_js(r, "id"));
    cf_x_text(b, "Name", cf_js(r, "name"));
    cf_x_text(b, "CreatedTime", cf_js(r, "createdTime"));
    cf_x_text(b, "EncodedKey", cf_js(r, "encodedKey"));
    cf_x_text(b, "Comment", cf_js(r, "comment"));
    ct_buf_puts(b, "</PublicKeySummary>");
}

static void group_summary(ct_buf *b, const json_t *r)
{
    ct_buf_puts(b, "<KeyGroupSummary>");
    x_record(b, &K_GROUP, r, 0);
    ct_buf_puts(b, "</KeyGroupSummary>");
}

/* ---- operations ---- */

static int do_create(ct_edge *e, const kind_t *k, const ct_http_req *req, ct_http_resp *resp,
                     cf_fail *f)
{
    ct_xml_node *root = NULL;
    json_t *r = json_object();
    char id[EDGE_GROUP_ID_LEN + 1], now[32];
    int rc = -1;
    if (cf_parse_body(req, &root, f) ||
        (k->group ? parse_group(e, root, r, f) : parse_key(root, r, f)) ||
        name_taken(e, k, cf_js(r, "name"), NULL, f))
        goto cleanup;
    if (k->group)
        edge_key_group_new_id(id);
    else
        edge_key_new_id(id);
    ct_time_iso8601(ct_now_ms(), now);
    json_object_set_new(r, "id", json_string(id));
    json_object_set_new(r, "createdTime", json_string(now));
    if (store(e, k, r, 1, f))
        goto cleanup;
    char loc[160];
    snprintf(loc, sizeof loc, "https://cloudfront.amazonaws.com" CF_PREFIX "%s/%s", k->path, id);
    ct_http_resp_header(resp, "Location", loc);
    ct_info("edge: CloudFront API created %s %s (%s)", k->kind, id, cf_js(r, "name"));
    reply(resp, k, 201, r, 0);
    rc = 0;
cleanup:
    json_decref(r);
    ct_xml_free(root);
    return rc;
}

/* A public key's only mutable field is its Comment. */
static int key_immutable(const json_t *old, const json_t *in, cf_fail *f)
{
    const char *ref = *cf_js(old, "callerReference") ? cf_js(old, "callerReference")
                                                      : cf_js(old, "id");
    if (strcmp(cf_js(old, "name"), cf_js(in, "name")) ||
        strcmp(cf_js(old, "encodedKey"), cf_js(in, "encodedKey")) ||
        strcmp(ref, cf_js(in, "callerReference")))
        return cf_failf(f, 400, "CannotChangeImmutablePublicKeyFields",
                        "Only a public key's Comment can be changed; CallerReference, Name and "
                        "EncodedKey are immutable.");
    return 0;
}

static int do_update(ct_edge *e, const kind_t *k, const char *id, const ct_http_req *req,
                     ct_http_resp *resp, cf_fail *f)
{
    ct_xml_node *root = NULL;
    json_t *r = NULL, *in = json_object();
    char now[32];
    int rc = -1;
    if (load(e, k, id, &r, f) || cf_if_match(req, r, f) || cf_parse_body(req, &root, f))
        goto cleanup;
    if (k->group ? parse_group(e, root, in, f) || name_taken(e, k, cf_js(in, "name"), id, f)
                 : parse_key(root, in, f) || key_immutable(r, in, f))
        goto cleanup;
    json_object_del(in, "callerReference"); /* keys of the admin API keep theirs (none) */
    json_object_update(r, in);
    ct_time_iso8601(ct_now_ms(), now);
    json_object_set_new(r, "lastModifiedTime", json_string(now));
    if (store(e, k, r, 0, f))
        goto cleanup;
    reply(resp, k, 200, r, 0);
    rc = 0;
cleanup:
    json_decref(r);
    json_decref(in);
    ct_xml_free(root);
    return rc;
}

static int do_delete(ct_edge *e, const kind_t *k, const char *id, const ct_http_req *req,
                     ct_http_resp *resp, cf_fail *f)
{
    json_t *r = NULL;
    int rc = -1;
    if (load(e, k, id, &r, f) || cf_if_match(req, r, f))
        goto cleanup;
    if (edge_key_item_in_use(e, k->group, id)) {
        if (k->group)
            cf_failf(f, 409, "ResourceInUse", "The key group is used by a distribution.");
        else
            cf_failf(f, 409, "PublicKeyInUse", "The public key is used by a key group.");
        goto cleanup;
    }
    ct_err err = ct_meta_edge_item_delete(e->meta, k->kind, id);
    if (!err)
        err = edge_keys_reload(e);
    if (err) {
        cf_failf(f, 500, "InternalError", "Cannot delete the %s: %s", k->path, ct_err_str(err));
        goto cleanup;
    }
    resp->status = 204;
    rc = 0;
cleanup:
    json_decref(r);
    return rc;
}

static int do_list(ct_edge *e, const kind_t *k, const ct_http_req *req, ct_http_resp *resp,
                   cf_fail *f)
{
    json_t *all = NULL;
    if (list_all(e, k, &all, f))
        return -1;
    char *marker = ct_http_query(req, "Marker"), *mi = ct_http_query(req, "MaxItems");
    long max = mi && *mi ? strtol(mi, NULL, 10) : KEYS_LIST_MAX;
    if (max <= 0 || max > KEYS_LIST_MAX)
        max = KEYS_LIST_MAX;
    cf_reply_page(resp, k->group ? "KeyGroupList" : "PublicKeyList", all, marker, max,
                  k->group ? group_summary : key_summary);
    free(marker);
    free(mi);
    json_decref(all);
    return 0;
}

/* rest: what follows "/2020-05-31/public-key" or "/2020-05-31/key-group". */
void cf_keys_route(ct_edge *e, int group, const char *rest, const ct_http_req *req,
                   ct_http_resp *resp, cf_fail *f)
{
    const kind_t *k = group ? &K_GROUP : &K_KEY;
    const char *m = req->method;
    char id[EDGE_GROUP_ID_LEN + 1] = "", sub[16] = "";
    if (!*rest || !strcmp(rest, "/")) {
        if (!strcmp(m, "POST"))
            do_create(e, k, req, resp, f);
        else if (!strcmp(m, "GET"))
            do_list(e, k, req, resp, f);
        else
            cf_failf(f, 405, "MethodNotAllowed", "Method %s is not allowed here", m);
        return;
    }
    int n = 0;
    if (sscanf(rest, "/%36[A-Za-z0-9-]%n", id, &n) != 1 ||
        (rest[n] && (sscanf(rest + n, "/%15[a-z]", sub) != 1 || strcmp(rest + n + 1, sub) ||
                     strcmp(sub, "config")))) {
        cf_failf(f, 404, k->none_code, "%s", k->none_msg);
        return;
    }
    json_t *r = NULL;
    /* UpdatePublicKey is PUT .../ID/config, UpdateKeyGroup PUT .../ID (botocore). */
    int update_path = group ? !sub[0] : sub[0] != '\0';
    if (!strcmp(m, "GET")) {
        if (!load(e, k, id, &r, f))
            reply(resp, k, 200, r, sub[0] != '\0');
        json_decref(r);
    } else if (!strcmp(m, "PUT") && update_path) {
        do_update(e, k, id, req, resp, f);
    } else if (!sub[0] && !strcmp(m, "DELETE")) {
        do_delete(e, k, id, req, resp, f);
    } else {
        cf_failf(f, 405, "MethodNotAllowed", "Method %s is not allowed here", m);
    }
}
