/* meta_uploads.c: multipart uploads and their parts. */
#include "meta/meta_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char meta_uploads_schema[] =
    "CREATE TABLE IF NOT EXISTS uploads ("
    " upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL,"
    " content_type TEXT, meta_json TEXT, created_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS uploads_bucket ON uploads(bucket, key);"
    "CREATE TABLE IF NOT EXISTS parts ("
    " upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, blob_id TEXT NOT NULL,"
    " size INTEGER NOT NULL, etag TEXT NOT NULL, mtime_ms INTEGER NOT NULL,"
    " PRIMARY KEY (upload_id, part_number)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS parts_blob ON parts(blob_id);"
    "CREATE TABLE IF NOT EXISTS completed_uploads ("
    " upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL,"
    " etag TEXT NOT NULL, completed_ms INTEGER NOT NULL);";

void ct_meta_upload_free(ct_meta_upload *u)
{
    free(u->bucket);
    free(u->key);
    free(u->content_type);
    free(u->meta_json);
    u->bucket = u->key = u->content_type = u->meta_json = NULL;
}

ct_err ct_meta_upload_create(ct_meta *m, const ct_meta_upload *u)
{
    ct_db_stmt *st = NULL;
    pthread_mutex_lock(&m->mu);
    ct_err e = meta_prep(m, "INSERT INTO uploads(upload_id, bucket, key, content_type, meta_json,"
                       " created_ms) SELECT ?,?,?,?,?,? WHERE EXISTS"
                       " (SELECT 1 FROM buckets WHERE name=?2)", &st);
    if (!e) {
        ct_db_bind_text(st, 1, u->upload_id);
        ct_db_bind_text(st, 2, u->bucket);
        ct_db_bind_text(st, 3, u->key);
        ct_db_bind_text(st, 4, u->content_type);
        ct_db_bind_text(st, 5, u->meta_json);
        ct_db_bind_int64(st, 6, u->created_ms ? u->created_ms : ct_now_ms());
        if (!(e = ct_db_step_done(st)) && ct_db_changes(st) == 0)
            e = CT_ERR_NOT_FOUND;
    }
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return e;
}

static void upload_from_row(ct_db_stmt *st, ct_meta_upload *u)
{
    memset(u, 0, sizeof *u);
    meta_col_copy(st, 0, u->upload_id, sizeof u->upload_id);
    u->bucket = meta_col_dup(st, 1);
    u->key = meta_col_dup(st, 2);
    u->content_type = meta_col_dup(st, 3);
    u->meta_json = meta_col_dup(st, 4);
    u->created_ms = ct_db_col_int64(st, 5);
}

#define UPLOAD_COLS "upload_id, bucket, key, content_type, meta_json, created_ms"

ct_err ct_meta_upload_get(ct_meta *m, const char *upload_id, ct_meta_upload *out)
{
    ct_db_stmt *st = NULL;
    pthread_mutex_lock(&m->mu);
    ct_err e = meta_prep(m, "SELECT " UPLOAD_COLS " FROM uploads WHERE upload_id=?", &st);
    if (!e) {
        ct_db_bind_text(st, 1, upload_id);
        int rc = ct_db_step(st);
        if (rc == CT_DB_ROW)
            upload_from_row(st, out);
        else
            e = rc == CT_DB_DONE ? CT_ERR_NOT_FOUND : ct_db_stmt_err(st);
    }
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return e;
}

static ct_err part_put_once(ct_meta *m, const char *upload_id, const ct_meta_part *p,
                            char old_blob[64])
{
    ct_db_stmt *st = NULL;
    old_blob[0] = '\0';
    pthread_mutex_lock(&m->mu);
    ct_err e = meta_begin(m);
    if (e)
        goto unlock;
    char part[16];
    snprintf(part, sizeof part, "%d", p->part_number);
    if ((e = meta_lock_key(m, "part", upload_id, part)))
        goto rollback;
    if ((e = meta_prep(m, meta_is_pg(m) ? "SELECT 1 FROM uploads WHERE upload_id=? FOR SHARE"
                                        : "SELECT 1 FROM uploads WHERE upload_id=?", &st)))
        goto rollback;
    ct_db_bind_text(st, 1, upload_id);
    if (ct_db_step(st) != CT_DB_ROW) {
        e = CT_ERR_NOT_FOUND;
        goto rollback;
    }
    ct_db_finalize(st);
    if ((e = meta_prep(m, "SELECT blob_id FROM parts WHERE upload_id=? AND part_number=?", &st)))
        goto rollback;
    ct_db_bind_text(st, 1, upload_id);
    ct_db_bind_int64(st, 2, p->part_number);
    if (ct_db_step(st) == CT_DB_ROW)
        meta_col_copy(st, 0, old_blob, 64);
    ct_db_finalize(st);
    if ((e = meta_prep(m, "INSERT INTO parts(upload_id, part_number, blob_id, size, etag,"
                     " mtime_ms) VALUES(?,?,?,?,?,?) ON CONFLICT(upload_id, part_number) DO UPDATE"
                     " SET blob_id=excluded.blob_id, size=excluded.size, etag=excluded.etag,"
                     " mtime_ms=excluded.mtime_ms", &st)))
        goto rollback;
    ct_db_bind_text(st, 1, upload_id);
    ct_db_bind_int64(st, 2, p->part_number);
    ct_db_bind_text(st, 3, p->blob_id);
    ct_db_bind_int64(st, 4, (int64_t)p->size);
    ct_db_bind_text(st, 5, p->etag);
    ct_db_bind_int64(st, 6, p->mtime_ms ? p->mtime_ms : ct_now_ms());
    if ((e = ct_db_step_done(st)))
        goto rollback;
    ct_db_finalize(st);
    e = meta_commit(m);
    goto unlock;
rollback:
    ct_db_finalize(st);
    meta_rollback(m);
unlock:
    pthread_mutex_unlock(&m->mu);
    return e;
}

ct_err ct_meta_part_list(ct_meta *m, const char *upload_id, int after, int max,
                         ct_meta_part_cb cb, void *ctx)
{
    /* Copied out first so callbacks may call back into meta. */
    ct_db_stmt *st = NULL;
    ct_meta_part *parts = NULL;
    int n = 0, cap = 0;
    pthread_mutex_lock(&m->mu);
    ct_err e = meta_prep(m, "SELECT part_number, blob_id, size, etag, mtime_ms FROM parts"
                       " WHERE upload_id=? AND part_number>? ORDER BY part_number LIMIT ?", &st);
    if (!e) {
        ct_db_bind_text(st, 1, upload_id);
        ct_db_bind_int64(st, 2, after);
        ct_db_bind_int64(st, 3, max);
        while (ct_db_step(st) == CT_DB_ROW) {
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                ct_meta_part *np = realloc(parts, (size_t)cap * sizeof *np);
                if (!np) {
                    e = CT_ERR_NOMEM;
                    break;
                }
                parts = np;
            }
            ct_meta_part *p = &parts[n++];
            p->part_number = ct_db_col_int(st, 0);
            meta_col_copy(st, 1, p->blob_id, sizeof p->blob_id);
            p->size = (uint64_t)ct_db_col_int64(st, 2);
            meta_col_copy(st, 3, p->etag, sizeof p->etag);
            p->mtime_ms = ct_db_col_int64(st, 4);
        }
    }
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    for (int i = 0; !e && i < n; i++)
        e = cb(ctx, &parts[i]);
    free(parts);
    return e;
}

ct_err ct_meta_upload_delete(ct_meta *m, const char *upload_id)
{
    pthread_mutex_lock(&m->mu);
    ct_err e = meta_begin(m);
    ct_db_stmt *st = NULL;
    if (e)
        goto unlock;
    static const char *const sqls[] = {"DELETE FROM parts WHERE upload_id=?",
                                       "DELETE FROM uploads WHERE upload_id=?"};
    int changes = 0; /* of the last statement: the upload row */
    for (size_t i = 0; i < CT_ARRAY_LEN(sqls); i++) {
        if ((e = meta_prep(m, sqls[i], &st)))
            break;
        ct_db_bind_text(st, 1, upload_id);
        e = ct_db_step_done(st);
        changes = ct_db_changes(st);
        ct_db_finalize(st);
        st = NULL;
        if (e)
            break;
    }
    if (!e && changes == 0)
        e = CT_ERR_NOT_FOUND;
    if (e)
        meta_rollback(m);
    else
        e = meta_commit(m);
unlock:
    pthread_mutex_unlock(&m->mu);
    return e;
}

static ct_err upload_query(ct_meta *m, const char *sql, const char *text, int64_t num,
                           ct_meta_upload_cb cb, void *ctx)
{
    ct_db_stmt *st = NULL;
    ct_meta_upload rows[256];
    int n = 0;
    pthread_mutex_lock(&m->mu);
    ct_err e = meta_prep(m, sql, &st);
    if (!e) {
        if (text)
            ct_db_bind_text(st, 1, text);
        else
            ct_db_bind_int64(st, 1, num);
        while (n < 256 && ct_db_step(st) == CT_DB_ROW)
            upload_from_row(st, &rows[n++]);
    }
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    for (int i = 0; i < n; i++) {
        if (!e)
            e = cb(ctx, &rows[i]);
        ct_meta_upload_free(&rows[i]);
    }
    return e;
}

ct_err ct_meta_upload_list(ct_meta *m, const char *bucket, ct_meta_upload_cb cb, void *ctx)
{
    return upload_query(m, "SELECT " UPLOAD_COLS " FROM uploads WHERE bucket=?"
                           " ORDER BY key, created_ms LIMIT 256", bucket, 0, cb, ctx);
}

ct_err ct_meta_upload_list_older(ct_meta *m, int64_t cutoff_ms, ct_meta_upload_cb cb, void *ctx)
{
    return upload_query(m, "SELECT " UPLOAD_COLS " FROM uploads WHERE created_ms < ?"
                           " ORDER BY created_ms LIMIT 256", NULL, cutoff_ms, cb, ctx);
}

ct_err ct_meta_upload_completed_put(ct_meta *m, const char *upload_id, const char *bucket,
                                    const char *key, const char *etag)
{
    ct_db_stmt *st = NULL;
    pthread_mutex_lock(&m->mu);
    ct_err e = meta_prep(m, "INSERT INTO completed_uploads(upload_id, bucket, key, etag,"
                       " completed_ms) VALUES(?,?,?,?,?) ON CONFLICT(upload_id) DO UPDATE SET"
                       " bucket=excluded.bucket, key=excluded.key, etag=excluded.etag,"
                       " completed_ms=excluded.completed_ms", &st);
    if (!e) {
        ct_db_bind_text(st, 1, upload_id);
        ct_db_bind_text(st, 2, bucket);
        ct_db_bind_text(st, 3, key);
        ct_db_bind_text(st, 4, etag);
        ct_db_bind_int64(st, 5, ct_now_ms());
        e = ct_db_step_done(st);
    }
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return e;
}

ct_err ct_meta_upload_completed_get(ct_meta *m, const char *upload_id, char bucket[64],
                                    char **key, char etag[80])
{
    ct_db_stmt *st = NULL;
    pthread_mutex_lock(&m->mu);
    ct_err e = meta_prep(m, "SELECT bucket, key, etag FROM completed_uploads WHERE upload_id=?", &st);
    if (!e) {
        ct_db_bind_text(st, 1, upload_id);
        if (ct_db_step(st) == CT_DB_ROW) {
            meta_col_copy(st, 0, bucket, 64);
            *key = meta_col_dup(st, 1);
            meta_col_copy(st, 2, etag, 80);
            e = *key ? CT_OK : CT_ERR_NOMEM;
        } else {
            e = CT_ERR_NOT_FOUND;
        }
    }
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return e;
}

/* PostgreSQL may ask for the transaction to run again (meta_txn_again). */
ct_err ct_meta_part_put(ct_meta *m, const char *upload_id, const ct_meta_part *p,
                        char old_blob[64])
{
    ct_err err;
    for (int attempt = 0;; attempt++) {
        err = part_put_once(m, upload_id, p, old_blob);
        if (err == CT_OK || !meta_txn_again(m, err, attempt))
            return err;
    }
}
