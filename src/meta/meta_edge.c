/* meta_edge.c: edge distributions (SQLite).
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
    sqlite3_stmt *st = NULL;
    ct_err err;
    /* Upsert keeps seq (creation order) for existing rows. */
    const char *sql = create_only
                          ? "INSERT INTO distributions(id,json,created_ms) VALUES(?,?,?)"
                          : "INSERT INTO distributions(id,json,created_ms) VALUES(?,?,?) "
                            "ON CONFLICT(id) DO UPDATE SET json=excluded.json";
    pthread_mutex_lock(&m->mu);
    int rc = sqlite3_prepare_v2(m->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, json, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, ct_now_ms());
        rc = sqlite3_step(st);
    }
    err = meta_sqlite_err(rc); /* UNIQUE violation -> CT_ERR_EXISTS */
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

ct_err ct_meta_distribution_get(ct_meta *m, const char *id, char **json)
{
    sqlite3_stmt *st = NULL;
    ct_err err = CT_ERR_NOT_FOUND;
    *json = NULL;
    pthread_mutex_lock(&m->mu);
    int rc = sqlite3_prepare_v2(m->db, "SELECT json FROM distributions WHERE id=?", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        err = meta_sqlite_err(rc);
        goto done;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *json = meta_col_dup(st, 0);
        err = *json ? CT_OK : CT_ERR_NOMEM;
    } else if (rc != SQLITE_DONE) {
        err = meta_sqlite_err(rc);
    }
done:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

ct_err ct_meta_distribution_delete(ct_meta *m, const char *id)
{
    sqlite3_stmt *st = NULL;
    ct_err err;
    pthread_mutex_lock(&m->mu);
    int rc = sqlite3_prepare_v2(m->db, "DELETE FROM distributions WHERE id=?", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    err = meta_sqlite_err(rc);
    if (!err && sqlite3_changes(m->db) == 0)
        err = CT_ERR_NOT_FOUND;
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

/* Oldest first (creation order). The callback runs with m->mu held: it must
 * not call back into meta. */
ct_err ct_meta_distribution_list(ct_meta *m, ct_meta_json_cb cb, void *ctx)
{
    sqlite3_stmt *st = NULL;
    ct_err err = CT_OK;
    pthread_mutex_lock(&m->mu);
    int rc = sqlite3_prepare_v2(m->db, "SELECT json FROM distributions ORDER BY seq", -1, &st,
                                NULL);
    if (rc != SQLITE_OK) {
        err = meta_sqlite_err(rc);
        goto done;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *json = (const char *)sqlite3_column_text(st, 0);
        if (json && (err = cb(ctx, json)))
            goto done;
    }
    if (rc != SQLITE_DONE)
        err = meta_sqlite_err(rc);
done:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

/* ---- edge_items: (kind, id) -> JSON ---- */

static ct_err item_exec(ct_meta *m, const char *sql, const char *kind, const char *id,
                        const char *json, int *changes)
{
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&m->mu);
    int rc = sqlite3_prepare_v2(m->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        if (json) {
            sqlite3_bind_text(st, 3, json, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 4, ct_now_ms());
        }
        rc = sqlite3_step(st);
    }
    ct_err err = meta_sqlite_err(rc); /* UNIQUE violation -> CT_ERR_EXISTS */
    if (changes)
        *changes = sqlite3_changes(m->db);
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

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
    sqlite3_stmt *st = NULL;
    ct_err err = CT_ERR_NOT_FOUND;
    *json = NULL;
    pthread_mutex_lock(&m->mu);
    int rc = sqlite3_prepare_v2(m->db, "SELECT json FROM edge_items WHERE kind=? AND id=?", -1,
                                &st, NULL);
    if (rc != SQLITE_OK) {
        err = meta_sqlite_err(rc);
        goto done;
    }
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *json = meta_col_dup(st, 0);
        err = *json ? CT_OK : CT_ERR_NOMEM;
    } else if (rc != SQLITE_DONE) {
        err = meta_sqlite_err(rc);
    }
done:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

/* Oldest first; the callback runs with m->mu held (no calls back into meta). */
ct_err ct_meta_edge_item_list(ct_meta *m, const char *kind, ct_meta_json_cb cb, void *ctx)
{
    sqlite3_stmt *st = NULL;
    ct_err err = CT_OK;
    pthread_mutex_lock(&m->mu);
    int rc = sqlite3_prepare_v2(m->db, "SELECT json FROM edge_items WHERE kind=? ORDER BY seq",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) {
        err = meta_sqlite_err(rc);
        goto done;
    }
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *json = (const char *)sqlite3_column_text(st, 0);
        if (json && (err = cb(ctx, json)))
            goto done;
    }
    if (rc != SQLITE_DONE)
        err = meta_sqlite_err(rc);
done:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}
