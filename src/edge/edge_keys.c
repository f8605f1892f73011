/* edge_keys.c: CloudFront public keys and key groups -- the in-memory
 * keyring the edge verifies signed URLs/cookies with, and the admin API
 * (/cattube/admin/public-keys[/ID], /cattube/admin/key-groups[/ID]).
 *
 * Records live in meta (edge_items, kinds "public-key" and "key-group") as
 * their wire JSON; the keyring (parsed EVP_PKEYs) is rebuilt from meta after
 * every change and swapped in under e->lock. A verification takes a
 * reference on the key, so it runs without the lock held. */
#include "edge/edge_internal.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KIND_KEY EDGE_KIND_KEY
#define KIND_GROUP EDGE_KIND_GROUP
#define PEM_MAX 8192
#define NAME_MAX_LEN 128

typedef struct {
    char id[EDGE_KEY_ID_MAX + 1];
    EVP_PKEY *pk;
} ring_key;

typedef struct {
    char id[EDGE_GROUP_ID_LEN + 1];
    size_t n;
    char keys[EDGE_GROUP_KEYS_MAX][EDGE_KEY_ID_MAX + 1];
} ring_group;

struct edge_keyring {
    ring_key *keys;
    size_t n_keys, cap_keys;
    ring_group *groups;
    size_t n_groups, cap_groups;
};

static void ring_free(edge_keyring *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->n_keys; i++)
        EVP_PKEY_free(k->keys[i].pk);
    free(k->keys);
    free(k->groups);
    free(k);
}

/* PEM -> key; RSA 2048..8192 bits or EC. NULL when unusable. */
static EVP_PKEY *pem_key(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pk = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!pk)
        return NULL;
    int id = EVP_PKEY_get_base_id(pk), bits = EVP_PKEY_get_bits(pk);
    if ((id == EVP_PKEY_RSA && bits >= 2048 && bits <= 8192) || id == EVP_PKEY_EC)
        return pk;
    EVP_PKEY_free(pk);
    return NULL;
}

static ct_err collect_key(void *ctx, const char *json)
{
    edge_keyring *k = ctx;
    json_t *j = json_loads(json, 0, NULL);
    const char *id = json_string_value(json_object_get(j, "id"));
    const char *pem = json_string_value(json_object_get(j, "encodedKey"));
    EVP_PKEY *pk = id && strlen(id) <= EDGE_KEY_ID_MAX && pem ? pem_key(pem) : NULL;
    ct_err err = CT_OK;
    if (!pk) {
        ct_warn("edge: skipping a malformed stored public key");
        goto cleanup;
    }
    if (k->n_keys == k->cap_keys) {
        size_t cap = k->cap_keys ? k->cap_keys * 2 : 8;
        ring_key *nv = realloc(k->keys, cap * sizeof *nv);
        if (!nv) {
            EVP_PKEY_free(pk);
            err = CT_ERR_NOMEM;
            goto cleanup;
        }
        k->keys = nv;
        k->cap_keys = cap;
    }
    snprintf(k->keys[k->n_keys].id, sizeof k->keys[0].id, "%s", id);
    k->keys[k->n_keys++].pk = pk;
cleanup:
    json_decref(j);
    return err;
}

static ct_err collect_group(void *ctx, const char *json)
{
    edge_keyring *k = ctx;
    json_t *j = json_loads(json, 0, NULL);
    const char *id = json_string_value(json_object_get(j, "id"));
    json_t *items = json_object_get(j, "items");
    ct_err err = CT_OK;
    if (!id || strlen(id) != EDGE_GROUP_ID_LEN || !json_is_array(items)) {
        ct_warn("edge: skipping a malformed stored key group");
        goto cleanup;
    }
    if (k->n_groups == k->cap_groups) {
        size_t cap = k->cap_groups ? k->cap_groups * 2 : 8;
        ring_group *nv = realloc(k->groups, cap * sizeof *nv);
        if (!nv) {
            err = CT_ERR_NOMEM;
            goto cleanup;
        }
        k->groups = nv;
        k->cap_groups = cap;
    }
    ring_group *g = &k->groups[k->n_groups++];
    memset(g, 0, sizeof *g);
    memcpy(g->id, id, EDGE_GROUP_ID_LEN + 1);
    size_t i;
    json_t *v;
    json_array_foreach(items, i, v)
    {
        const char *kid = json_string_value(v);
        if (kid && strlen(kid) <= EDGE_KEY_ID_MAX && g->n < EDGE_GROUP_KEYS_MAX)
            snprintf(g->keys[g->n++], sizeof g->keys[0], "%s", kid);
    }
cleanup:
    json_decref(j);
    return err;
}

ct_err edge_keys_reload(ct_edge *e)
{
    edge_keyring *k = calloc(1, sizeof *k);
    if (!k)
        return CT_ERR_NOMEM;
    ct_err err = ct_meta_edge_item_list(e->meta, KIND_KEY, collect_key, k);
    if (!err)
        err = ct_meta_edge_item_list(e->meta, KIND_GROUP, collect_group, k);
    if (err) {
        ring_free(k);
        return err;
    }
    pthread_rwlock_wrlock(&e->lock);
    edge_keyring *old = e->keys;
    e->keys = k;
    e->keys_gen++; /* retires every cached signature check */
    pthread_rwlock_unlock(&e->lock);
    ring_free(old);
    return CT_OK;
}

void edge_keys_free(ct_edge *e)
{
    ring_free(e->keys);
    e->keys = NULL;
}

static const ring_group *find_group(const edge_keyring *k, const char *id)
{
    for (size_t i = 0; k && i < k->n_groups; i++)
        if (strcmp(k->groups[i].id, id) == 0)
            return &k->groups[i];
    return NULL;
}

/* The keyring's key key_id when it is in one of d's trusted groups, or
 * NULL. Under e->lock. */
static EVP_PKEY *trusted_locked(ct_edge *e, const edge_dist *d, const char *key_id)
{
    int trusted = 0;
    for (size_t i = 0; i < d->n_groups && !trusted; i++) {
        const ring_group *g = find_group(e->keys, d->groups[i]);
        for (size_t j = 0; g && j < g->n && !trusted; j++)
            trusted = strcmp(g->keys[j], key_id) == 0;
    }
    for (size_t i = 0; trusted && i < e->keys->n_keys; i++)
        if (strcmp(e->keys->keys[i].id, key_id) == 0)
            return e->keys->keys[i].pk;
    return NULL;
}

/* The key when key_id is in one of d's trusted groups (a new reference). */
static EVP_PKEY *trusted_key(ct_edge *e, const edge_dist *d, const char *key_id, uint64_t *gen)
{
    pthread_rwlock_rdlock(&e->lock);
    *gen = e->keys_gen;
    EVP_PKEY *pk = trusted_locked(e, d, key_id);
    if (pk)
        EVP_PKEY_up_ref(pk);
    pthread_rwlock_unlock(&e->lock);
    return pk;
}

int edge_keys_trusted(ct_edge *e, const edge_dist *d, const char *key_id, uint64_t gen)
{
    pthread_rwlock_rdlock(&e->lock);
    int ok = e->keys_gen == gen && trusted_locked(e, d, key_id) != NULL;
    pthread_rwlock_unlock(&e->lock);
    return ok;
}

int edge_keys_verify(ct_edge *e, const edge_dist *d, const char *key_id, int sha256,
                     const char *text, size_t len, const unsigned char *sig, size_t sig_len,
                     uint64_t *gen_out)
{
    uint64_t gen;
    EVP_PKEY *pk = trusted_key(e, d, key_id, &gen);
    if (gen_out)
        *gen_out = gen;
    EVP_MD_CTX *ctx = NULL;
    unsigned char dg[32];
    int rc = -1, cacheable = 0;
    if (!pk)
        goto cleanup;
    /* Trust was checked just now; only the RSA/ECDSA result is reused. */
    cacheable = !edge_sigcache_digest(key_id, sha256, text, len, sig, sig_len, dg);
    if (cacheable && edge_sigcache_check(e->sigcache, dg, gen)) {
        rc = 0;
        goto cleanup;
    }
    if (!(ctx = EVP_MD_CTX_new()))
        goto cleanup;
    if (EVP_DigestVerifyInit(ctx, NULL, sha256 ? EVP_sha256() : EVP_sha1(), NULL, pk) != 1)
        goto cleanup;
    /* The signature is checked by OpenSSL's (constant-time) RSA/ECDSA verify;
     * nothing secret is compared here. */
    if (EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)text, len) == 1) {
        rc = 0;
        if (cacheable)
            edge_sigcache_put(e->sigcache, dg, gen);
    }
cleanup:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pk);
    return rc;
}

int edge_key_group_exists(ct_edge *e, const char *id)
{
    pthread_rwlock_rdlock(&e->lock);
    int found = find_group(e->keys, id) != NULL;
    pthread_rwlock_unlock(&e->lock);
    return found;
}

int edge_key_exists(ct_edge *e, const char *id)
{
    int found = 0;
    pthread_rwlock_rdlock(&e->lock);
    for (size_t i = 0; e->keys && i < e->keys->n_keys && !found; i++)
        found = strcmp(e->keys->keys[i].id, id) == 0;
    pthread_rwlock_unlock(&e->lock);
    return found;
}

/* ---- admin API ---- */

typedef struct {
    const char *kind, *plural, *prefix;
} item_type;
static const item_type T_KEY = {KIND_KEY, "publicKeys", "/cattube/admin/public-keys"};
static const item_type T_GROUP = {KIND_GROUP, "keyGroups", "/cattube/admin/key-groups"};

int edge_key_pem_ok(const char *pem)
{
    EVP_PKEY *pk = pem && strlen(pem) < PEM_MAX ? pem_key(pem) : NULL;
    EVP_PKEY_free(pk);
    return pk != NULL;
}

int edge_key_name_ok(const char *s)
{
    return s && *s && strlen(s) <= NAME_MAX_LEN &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
               strlen(s);
}

void edge_key_new_id(char out[15])
{
    out[0] = 'K';
    ct_random_alnum(out + 1, 13, 1);
    out[14] = '\0';
}

void edge_key_group_new_id(char out[EDGE_GROUP_ID_LEN + 1])
{
    char h[33];
    ct_random_hex(h, 32);
    snprintf(out, EDGE_GROUP_ID_LEN + 1, "%.8s-%.4s-4%.3s-a%.3s-%.12s", h, h + 8, h + 13,
             h + 17, h + 20);
}

/* Validates the body of a key / key group; fills id and returns the record. */
static json_t *build_record(ct_edge *e, const item_type *t, json_t *in, char *id, size_t idn,
                            ct_http_resp *resp)
{
    json_t *name = json_object_get(in, "name"), *comment = json_object_get(in, "comment");
    if (!edge_key_name_ok(json_string_value(name))) {
        edge_reply_error(resp, 400, "name is required: 1-128 characters of [A-Za-z0-9_-]");
        return NULL;
    }
    if (comment && (!json_is_string(comment) || json_string_length(comment) > 128)) {
        edge_reply_error(resp, 400, "comment must be a string of at most 128 characters");
        return NULL;
    }
    char created[32];
    ct_time_iso8601(ct_now_ms(), created);
    json_t *rec = json_pack("{s:O, s:s}", "name", name, "createdTime", created);
    if (comment)
        json_object_set(rec, "comment", comment);
    if (t == &T_KEY) {
        const char *pem = json_string_value(json_object_get(in, "encodedKey"));
        EVP_PKEY *pk = pem && strlen(pem) < PEM_MAX ? pem_key(pem) : NULL;
        if (!pk) {
            edge_reply_error(resp, 400, "encodedKey must be a PEM public key (RSA 2048-8192 "
                                        "bits or EC)");
            json_decref(rec);
            return NULL;
        }
        EVP_PKEY_free(pk);
        edge_key_new_id(id);
        json_object_set_new(rec, "encodedKey", json_string(pem));
    } else {
        json_t *items = json_object_get(in, "items"), *v;
        size_t i, n = json_array_size(items);
        if (!json_is_array(items) || n == 0 || n > EDGE_GROUP_KEYS_MAX) {
            edge_reply_error(resp, 400, "items must list 1 to %d public key ids",
                             EDGE_GROUP_KEYS_MAX);
            json_decref(rec);
            return NULL;
        }
        json_array_foreach(items, i, v)
        {
            const char *kid = json_string_value(v);
            if (!kid || strlen(kid) > EDGE_KEY_ID_MAX || !edge_key_exists(e, kid)) {
                edge_reply_error(resp, 400, "The public key %.40s does not exist",
                                 kid ? kid : "(not a string)");
                json_decref(rec);
                return NULL;
            }
        }
        edge_key_group_new_id(id);
        json_object_set(rec, "items", items);
    }
    (void)idn;
    json_object_set_new(rec, "id", json_string(id));
    return rec;
}

static void do_create(ct_edge *e, const item_type *t, const ct_http_req *req,
                      ct_http_resp *resp)
{
    json_t *in = json_loadb(req->body ? req->body : "", req->body_len, 0, NULL);
    char id[EDGE_GROUP_ID_LEN + 1];
    json_t *rec = NULL;
    char *text = NULL;
    if (!json_is_object(in)) {
        edge_reply_error(resp, 400, "The request body must be a JSON object");
        goto cleanup;
    }
    if (!(rec = build_record(e, t, in, id, sizeof id, resp)))
        goto cleanup;
    text = json_dumps(rec, JSON_COMPACT);
    ct_err err = text ? ct_meta_edge_item_put(e->meta, t->kind, id, text, 1) : CT_ERR_NOMEM;
    if (!err)
        err = edge_keys_reload(e);
    if (err) {
        edge_reply_error(resp, 500, "Cannot store the %s: %s", t->kind, ct_err_str(err));
        goto cleanup;
    }
    ct_info("edge: created %s %s", t->kind, id);
    char loc[128];
    snprintf(loc, sizeof loc, "%s/%s", t->prefix, id);
    ct_http_resp_header(resp, "Location", loc);
    edge_reply_json(resp, 201, rec);
    rec = NULL;
cleanup:
    free(text);
    json_decref(rec);
    json_decref(in);
}

static ct_err collect_json(void *ctx, const char *json)
{
    json_t *j = json_loads(json, 0, NULL);
    if (j)
        json_array_append_new(ctx, j);
    return CT_OK;
}

static void do_list(ct_edge *e, const item_type *t, ct_http_resp *resp)
{
    json_t *arr = json_array();
    ct_err err = ct_meta_edge_item_list(e->meta, t->kind, collect_json, arr);
    if (err) {
        json_decref(arr);
        edge_reply_error(resp, 500, "Cannot list: %s", ct_err_str(err));
        return;
    }
    edge_reply_json(resp, 200, json_pack("{s:o}", t->plural, arr));
}

static void do_get(ct_edge *e, const item_type *t, const char *id, ct_http_resp *resp)
{
    char *json = NULL;
    ct_err err = ct_meta_edge_item_get(e->meta, t->kind, id, &json);
    json_t *j = err ? NULL : json_loads(json, 0, NULL);
    free(json);
    if (err == CT_ERR_NOT_FOUND)
        edge_reply_error(resp, 404, "The %s %.40s does not exist", t->kind, id);
    else if (!j)
        edge_reply_error(resp, 500, "Cannot read the %s: %s", t->kind, ct_err_str(err));
    else
        edge_reply_json(resp, 200, j);
}

int edge_key_item_in_use(ct_edge *e, int group, const char *id)
{
    int used = 0;
    pthread_rwlock_rdlock(&e->lock);
    if (!group) {
        for (size_t i = 0; e->keys && i < e->keys->n_groups && !used; i++)
            for (size_t j = 0; j < e->keys->groups[i].n && !used; j++)
                used = strcmp(e->keys->groups[i].keys[j], id) == 0;
    } else {
        for (size_t i = 0; i < e->n_dists && !used; i++)
            for (size_t j = 0; j < e->dists[i].n_groups && !used; j++)
                used = strcmp(e->dists[i].groups[j], id) == 0;
    }
    pthread_rwlock_unlock(&e->lock);
    return used;
}

static void do_delete(ct_edge *e, const item_type *t, const char *id, ct_http_resp *resp)
{
    if (edge_key_item_in_use(e, t == &T_GROUP, id)) {
        edge_reply_error(resp, 409, "The %s %.40s is in use by a %s", t->kind, id,
                         t == &T_KEY ? "key group" : "distribution");
        return;
    }
    ct_err err = ct_meta_edge_item_delete(e->meta, t->kind, id);
    if (!err)
        err = edge_keys_reload(e);
    if (err == CT_ERR_NOT_FOUND)
        edge_reply_error(resp, 404, "The %s %.40s does not exist", t->kind, id);
    else if (err)
        edge_reply_error(resp, 500, "Cannot delete the %s: %s", t->kind, ct_err_str(err));
    else
        resp->status = 204;
}

void edge_keys_admin(ct_edge *e, const ct_http_req *req, ct_http_resp *resp, const char *path)
{
    const item_type *t = strncmp(path, T_KEY.prefix, strlen(T_KEY.prefix)) == 0 ? &T_KEY : &T_GROUP;
    const char *rest = path + strlen(t->prefix);
    if (*rest == '/')
        rest++;
    char id[64];
    size_t n = strlen(rest);
    if (n >= sizeof id || strchr(rest, '/')) {
        edge_reply_error(resp, 404, "Unknown admin resource");
        return;
    }
    memcpy(id, rest, n + 1);
    const char *m = req->method;
    if (!*id && strcmp(m, "GET") == 0)
        do_list(e, t, resp);
    else if (!*id && strcmp(m, "POST") == 0)
        do_create(e, t, req, resp);
    else if (*id && strcmp(m, "GET") == 0)
        do_get(e, t, id, resp);
    else if (*id && strcmp(m, "DELETE") == 0)
        do_delete(e, t, id, resp);
    else {
        edge_reply_error(resp, 405, "Method %s not allowed here", m);
        ct_http_resp_header(resp, "Allow", *id ? "GET, DELETE" : "GET, POST");
    }
}
