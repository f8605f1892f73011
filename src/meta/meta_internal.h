/* Shared by meta's own files only. */
#ifndef CT_META_INTERNAL_H
#define CT_META_INTERNAL_H

#include "meta/meta.h"

#include <pthread.h>
#include <sqlite3.h>

struct ct_meta {
    sqlite3 *db;
    pthread_mutex_t mu; /* one connection, one writer at a time */
    ct_meta_notify_fn on_outbox, on_job;
    void *on_outbox_ctx, *on_job_ctx;
};

/* Fire the hooks (call without holding mu). */
void meta_notify_outbox(ct_meta *m);
void meta_notify_job(ct_meta *m);

/* Each table-owning file provides its schema (CREATE TABLE IF NOT EXISTS ...). */
extern const char meta_objects_schema[];
extern const char meta_jobs_schema[];
extern const char meta_edge_schema[];
extern const char meta_uploads_schema[];
extern const char meta_iam_schema[];
extern const char meta_events_schema[]; /* after meta_jobs_schema: triggers on jobs */

/* Statement helpers shared by every meta file. meta_prep logs the failing
 * SQL; meta_bind_text binds NULL for NULL and copies the text;
 * meta_step_done maps SQLITE_DONE/ROW to CT_OK. */
ct_err meta_prep(ct_meta *m, const char *sql, sqlite3_stmt **st);
void meta_bind_text(sqlite3_stmt *st, int i, const char *s);
ct_err meta_step_done(sqlite3_stmt *st);

/* sqlite3 result -> ct_err (SQLITE_FULL -> CT_ERR_NOSPC, CONSTRAINT -> EXISTS). */
ct_err meta_sqlite_err(int rc);
/* strdup of a column, NULL for SQL NULL. */
char *meta_col_dup(sqlite3_stmt *st, int col);
/* Copies a text column into a fixed buffer (truncating safely). */
void meta_col_copy(sqlite3_stmt *st, int col, char *out, size_t n);
/* BEGIN IMMEDIATE / COMMIT / ROLLBACK; callers hold m->mu. */
ct_err meta_begin(ct_meta *m);
ct_err meta_commit(ct_meta *m);
void meta_rollback(ct_meta *m);

#endif
