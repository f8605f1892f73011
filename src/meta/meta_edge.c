/* meta_edge.c: edge distributions (SQL via db.h).
 *
 * A distribution is stored as its wire JSON (owned by the edge module) plus
 * the id; seq keeps creation order, which the edge uses for its Host
 * fallback (most recently created enabled distribution).
 * edge_items holds the edge's other records (CloudFront public keys, key
 * groups, invalidations) as JSON by (kind, id), in creation order. */
#include "meta/meta_internal.h"

#include <stdlib.h>

const char meta_edge_schema[] =
    "CREATE TABLE IF NOT EXISTS distributions ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT NOT NULL UNIQUE,"
    " json TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS edge_items ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " kind TEXT NOT NULL,"
    " id TEXT NOT NULL,"
    " json TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " UNIQUE(kind, id));";

ct_err ct_meta_distribution_put(ct_meta *m, const char *id, const char *json, int create_only)
{
    ct_db_stmt *st = NULL;
    /* Upsert keeps seq (creation order) for existing rows. */
    const char *sql = create_only
                          ? "INSERT INTO distributions(id,json,created_ms) VALUES(?,?,?)"
                          : "INSERT INTO distributions(id,json,created_ms) VALUES(?,?,?) "
                            "ON CONFLICT(id) DO UPDATE SET json=excluded.json";
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, sql, &st);
    if (!err) {
        ct_db_bind_text(st, 1, id);
        ct_db_bind_text(st, 2, json);
        ct_db_bind_int64(st, 3, ct_now_ms());
        err = ct_db_step_done(st); /* UNIQUE violation -> CT_ERR_EXISTS */
    }
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

/* One JSON column of the row matching one or two text keys. */
static ct_err json_get(ct_meta *m, const char *sql, const char *a, const char *b, char **json)
{
    ct_db_stmt *st = NULL;
    *json = NULL;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, sql, &st);
    if (!err) {
        ct_db_bind_text(st, 1, a);
        if (b)
            ct_db_bind_text(st, 2, b);
        int rc = ct_db_step(st);
        if (rc == CT_DB_ROW) {
            *json = meta_col_dup(st, 0);
            err = *json ? CT_OK : CT_ERR_NOMEM;
        } else {
            err = rc == CT_DB_DONE ? CT_ERR_NOT_FOUND : ct_db_stmt_err(st);
        }
    }
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

ct_err ct_meta_distribution_get(ct_meta *m, const char *id, char **json)
{
    return json_get(m, "SELECT json FROM distributions WHERE id=?", id, NULL, json);
}

/* Runs sql binding up to four parameters (text, text, text, now). */
static ct_err item_exec(ct_meta *m, const char *sql, const char *kind, const char *id,
                        const char *json, int *changes)
{
    ct_db_stmt *st = NULL;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, sql, &st);
    if (!err) {
        ct_db_bind_text(st, 1, kind);
        if (id)
            ct_db_bind_text(st, 2, id);
        if (json) {
            ct_db_bind_text(st, 3, json);
            ct_db_bind_int64(st, 4, ct_now_ms());
        }
        err = ct_db_step_done(st); /* UNIQUE violation -> CT_ERR_EXISTS */
        if (changes)
            *changes = ct_db_changes(st);
    }
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

ct_err ct_meta_distribution_delete(ct_meta *m, const char *id)
{
    int changes = 0;
    ct_err err = item_exec(m, "DELETE FROM distributions WHERE id=?", id, NULL, NULL, &changes);
    return !err && changes == 0 ? CT_ERR_NOT_FOUND : err;
}

/* Rows of one JSON column, oldest first. The callback runs with m->mu held:
 * it must not call back into meta. */
static ct_err json_list(ct_meta *m, const char *sql, const char *kind, ct_meta_json_cb cb,
                        void *ctx)
{
    ct_db_stmt *st = NULL;
    int rc = CT_DB_DONE;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, sql, &st);
    if (!err && kind)
        ct_db_bind_text(st, 1, kind);
    while (!err && (rc = ct_db_step(st)) == CT_DB_ROW) {
        const char *json = ct_db_col_text(st, 0);
        if (json)
            err = cb(ctx, json);
    }
    if (!err && rc == CT_DB_ERROR)
        err = ct_db_stmt_err(st);
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

ct_err ct_meta_distribution_list(ct_meta *m, ct_meta_json_cb cb, void *ctx)
{
    return json_list(m, "SELECT json FROM distributions ORDER BY seq", NULL, cb, ctx);
}

/* ---- edge_items: (kind, id) -> JSON ---- */

ct_err ct_meta_edge_item_put(ct_meta *m, const char *kind, const char *id, const char *json,
                             int create_only)
{
    return item_exec(m,
                     create_only
                         ? "INSERT INTO edge_items(kind,id,json,created_ms) VALUES(?,?,?,?)"
                         : "INSERT INTO edge_items(kind,id,json,created_ms) VALUES(?,?,?,?) "
                           "ON CONFLICT(kind,id) DO UPDATE SET json=excluded.json",
                     kind, id, json, NULL);
}

ct_err ct_meta_edge_item_delete(ct_meta *m, const char *kind, const char *id)
{
    int changes = 0;
    ct_err err = item_exec(m, "DELETE FROM edge_items WHERE kind=? AND id=?", kind, id, NULL,
                           &changes);
    return !err && changes == 0 ? CT_ERR_NOT_FOUND : err;
}

ct_err ct_meta_edge_item_get(ct_meta *m, const char *kind, const char *id, char **json)
{
    return json_get(m, "SELECT json FROM edge_items WHERE kind=? AND id=?", kind, id, json);
}

/* Oldest first; the callback runs with m->mu held (no calls back into meta). */
ct_err ct_meta_edge_item_list(ct_meta *m, const char *kind, ct_meta_json_cb cb, void *ctx)
{
    return json_list(m, "SELECT json FROM edge_items WHERE kind=? ORDER BY seq", kind, cb, ctx);
}
