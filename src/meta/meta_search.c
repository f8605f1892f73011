/* meta_search.c: see meta_search.h (SQLite). */
#include "meta/meta_internal.h"
#include "meta/meta_search.h"

/* Caller holds the lock and a transaction. */
static ct_err cancel_locked(ct_meta *m, const char *id)
{
    sqlite3_stmt *st = NULL;
    ct_err err = meta_prep(m, "UPDATE jobs SET cancel_requested=1,"
                         " status=CASE WHEN status='SUBMITTED' THEN 'CANCELED' ELSE status END,"
                         " finish_ms=CASE WHEN status='SUBMITTED' THEN ?2 ELSE finish_ms END"
                         " WHERE id=?1 AND (status='SUBMITTED' OR"
                         " (status='PROGRESSING' AND phase<>'UPLOADING'))", &st);
    if (err)
        return err;
    meta_bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, ct_now_ms());
    if (!(err = meta_step_done(st)) && sqlite3_changes(m->db) == 0) {
        sqlite3_finalize(st);
        st = NULL;
        if (!(err = meta_prep(m, "SELECT 1 FROM jobs WHERE id=?1", &st))) {
            meta_bind_text(st, 1, id);
            int rc = sqlite3_step(st);
            err = rc == SQLITE_ROW ? CT_ERR_CONFLICT : rc == SQLITE_DONE ? CT_ERR_NOT_FOUND
                                                                          : meta_sqlite_err(rc);
        }
    }
    sqlite3_finalize(st);
    return err;
}

ct_err ct_meta_job_cancel_before_upload(ct_meta *m, const char *id)
{
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_begin(m);
    if (!err) {
        err = cancel_locked(m, id);
        if (err)
            meta_rollback(m);
        else
            err = meta_commit(m);
    }
    pthread_mutex_unlock(&m->mu);
    return err;
}
