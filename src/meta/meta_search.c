/* meta_search.c: see meta_search.h. */
#include "meta/meta_internal.h"
#include "meta/meta_search.h"

/* Caller holds the lock and a transaction. The UPDATE re-checks status and
 * phase on the row it locks (uploaded: an earlier attempt reached UPLOADING
 * and may have committed outputs before its worker died), so on PostgreSQL a concurrent heartbeat moving
 * the job to UPLOADING is seen (READ COMMITTED re-evaluates the WHERE). */
static ct_err cancel_locked(ct_meta *m, const char *id)
{
    ct_db_stmt *st = NULL;
    ct_err err = meta_prep(m, "UPDATE jobs SET cancel_requested=1,"
                         " status=CASE WHEN status='SUBMITTED' THEN 'CANCELED' ELSE status END,"
                         " finish_ms=CASE WHEN status='SUBMITTED' THEN ?2 ELSE finish_ms END"
                         " WHERE id=?1 AND (status='SUBMITTED' OR"
                         " (status='PROGRESSING' AND phase<>'UPLOADING' AND uploaded=0))", &st);
    if (err)
        return err;
    ct_db_bind_text(st, 1, id);
    ct_db_bind_int64(st, 2, meta_now_ms(m));
    if (!(err = ct_db_step_done(st)) && ct_db_changes(st) == 0) {
        ct_db_finalize(st);
        st = NULL;
        if (!(err = meta_prep(m, "SELECT 1 FROM jobs WHERE id=?1", &st))) {
            ct_db_bind_text(st, 1, id);
            int rc = ct_db_step(st);
            err = rc == CT_DB_ROW ? CT_ERR_CONFLICT : rc == CT_DB_DONE ? CT_ERR_NOT_FOUND
                                                                        : ct_db_stmt_err(st);
        }
    }
    ct_db_finalize(st);
    return err;
}

static ct_err cancel_before_upload_once(ct_meta *m, const char *id)
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

/* PostgreSQL may ask for the transaction to run again (meta_txn_again). */
ct_err ct_meta_job_cancel_before_upload(ct_meta *m, const char *id)
{
    ct_err err;
    for (int attempt = 0;; attempt++) {
        err = cancel_before_upload_once(m, id);
        if (err == CT_OK || !meta_txn_again(m, err, attempt))
            return err;
    }
}
