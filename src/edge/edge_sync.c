/* edge_sync.c: the standalone edge's copy of its distributions.
 *
 * `cattube edge` keeps no configuration of its own: it polls its API node's
 * admin API (or reads a file) and hands the list here. The list replaces
 * the edge's local meta copy (a private SQLite under its data directory):
 * distributions that are gone are deleted, the others are written as given
 * (the API node's ids, ARNs and ETags), and the routing table is reloaded.
 * Public keys and key groups (trusted key groups of signed URLs) are copied
 * the same way, so signed distributions work on the standalone edge too.
 * A distribution whose ETag changed has its cached rows and bytes dropped,
 * so an update on the API node reaches viewers at the next poll; an
 * invalidation made there (either API records it in the distribution's
 * record without changing its ETag) since the last poll is applied here
 * too. The previous copy is kept in the edge's SQLite, so invalidations made
 * while the edge was stopped are applied at its first poll after a restart;
 * until that poll (right after the listeners open) the disk cache it kept
 * (edge_disk.c) may still answer such an entry. */
#include "edge/edge_internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static ct_err collect(void *ctx, const char *json)
{
    json_t *j = json_loads(json, 0, NULL);
    if (j)
        json_array_append_new(ctx, j);
    return CT_OK;
}

static json_t *find(json_t *arr, const char *id)
{
    size_t i;
    json_t *d;
    json_array_foreach(arr, i, d)
    {
        const char *x = json_string_value(json_object_get(d, "id"));
        if (x && !strcmp(x, id))
            return d;
    }
    return NULL;
}

static const char *str(const json_t *d, const char *k)
{
    const char *s = json_string_value(json_object_get(d, k));
    return s ? s : "";
}

/* Invalidations made on the API node since the last poll (ids not in was).
 * The API node keeps only the newest EDGE_INVAL_KEEP: when the oldest one
 * it still lists is new here too, older unseen ones may have fallen off
 * (many invalidations while this edge was down), so everything cached for
 * the distribution is dropped instead. */
static void apply_new_invalidations(ct_edge *e, const char *id, json_t *was, json_t *now)
{
    json_t *seen = json_object_get(was, "invalidations"), *inv, *p;
    json_t *list = json_object_get(now, "invalidations");
    size_t i, k, n = json_array_size(list);
    if (n >= EDGE_INVAL_KEEP && !find(seen, str(json_array_get(list, n - 1), "id"))) {
        ct_info("edge: %s: more invalidations than its list keeps since the last poll; "
                "dropping its whole cache", id);
        edge_invalidate(e, id, "", 1);
        return;
    }
    json_array_foreach(list, i, inv)
    {
        if (find(seen, str(inv, "id")))
            continue;
        json_array_foreach(json_object_get(inv, "paths"), k, p)
            edge_dist_invalidate_path(e, id, json_string_value(p));
    }
}

ct_err ct_edge_sync_distributions(ct_edge *e, const char *list_json)
{
    json_t *in = json_loads(list_json, 0, NULL), *old = json_array(), *d;
    ct_err err = CT_ERR_INVALID;
    size_t i;
    if (!json_is_array(in) || !old)
        goto cleanup;
    if ((err = ct_meta_distribution_list(e->meta, collect, old)))
        goto cleanup;
    json_array_foreach(old, i, d) if (!find(in, str(d, "id")))
    {
        ct_meta_distribution_delete(e->meta, str(d, "id"));
        edge_invalidate(e, str(d, "id"), "", 1);
    }
    json_array_foreach(in, i, d)
    {
        const char *id = str(d, "id");
        if (!edge_dist_id_valid(id))
            continue;
        json_t *was = find(old, id);
        json_t *copy = json_deep_copy(d);
        json_object_del(copy, "url"); /* derived again from this edge's host and port */
        json_object_del(copy, "domainName");
        if (was && json_equal(was, copy)) {
            json_decref(copy);
            continue;
        }
        char *text = copy ? json_dumps(copy, JSON_COMPACT) : NULL;
        err = text ? ct_meta_distribution_put(e->meta, id, text, 0) : CT_ERR_NOMEM;
        free(text);
        if (!err && was && !strcmp(str(was, "etag"), str(d, "etag")))
            apply_new_invalidations(e, id, was, copy);
        else if (!err)
            edge_invalidate(e, id, "", 1);
        json_decref(copy);
        if (err)
            goto cleanup;
    }
    err = edge_dists_reload(e);
cleanup:
    json_decref(in);
    json_decref(old);
    return err;
}

static ct_err collect_item(void *ctx, const char *json) { return collect(ctx, json); }

/* Replaces the local edge items of kind with arr (records with an "id"). */
static ct_err sync_items(ct_edge *e, const char *kind, json_t *arr)
{
    json_t *old = json_array(), *d;
    size_t i;
    ct_err err = old ? ct_meta_edge_item_list(e->meta, kind, collect_item, old) : CT_ERR_NOMEM;
    json_array_foreach(old, i, d) if (!err && !find(arr, str(d, "id")))
        ct_meta_edge_item_delete(e->meta, kind, str(d, "id"));
    json_array_foreach(arr, i, d)
    {
        json_t *was = find(old, str(d, "id"));
        if (err || !*str(d, "id") || (was && json_equal(was, d)))
            continue;
        char *text = json_dumps(d, JSON_COMPACT);
        err = text ? ct_meta_edge_item_put(e->meta, kind, str(d, "id"), text, 0) : CT_ERR_NOMEM;
        free(text);
    }
    json_decref(old);
    return err;
}

ct_err ct_edge_sync_keys(ct_edge *e, const char *public_keys_json, const char *key_groups_json)
{
    json_t *keys = json_loads(public_keys_json, 0, NULL);
    json_t *groups = json_loads(key_groups_json, 0, NULL);
    ct_err err = CT_ERR_INVALID;
    if (json_is_array(keys) && json_is_array(groups) &&
        !(err = sync_items(e, "public-key", keys)) &&
        !(err = sync_items(e, "key-group", groups)))
        err = edge_keys_reload(e);
    json_decref(keys);
    json_decref(groups);
    return err;
}
