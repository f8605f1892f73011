/* meta_watch.c: SQLite's stand-in for LISTEN/NOTIFY, so processes sharing
 * DIR/meta.db (serve and `cattube worker DIR` processes) wake each other.
 *
 * DESIGN: a thread with its own connection checks `PRAGMA data_version`
 * every WATCH_MS; it changes only when another connection committed, and
 * reading it touches just the WAL index in shared memory (no query, no
 * disk). On a change the thread reads the AUTOINCREMENT high-water marks of
 * outbox and job_events (sqlite_sequence: one indexed row each) and fires
 * on_outbox when either moved (a new S3 event, or a job's status changed),
 * on_job when job_events moved (a job was submitted; other status changes
 * wake idle workers for nothing, one cheap claim each).
 * Commits by this process's own connection also show up here; the hooks are
 * idempotent kicks, so that only costs a spare wake-up. The pollers' own
 * timers stay as a fallback (lease expiry has no event). Each round also
 * ends the read pool's idle snapshots (meta_readers_sweep). */
#include "meta/meta_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WATCH_MS 20

struct meta_watch {
    ct_meta *m;
    ct_db *db;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping;
    int64_t version, outbox_seq, events_seq;
};

/* PRAGMA data_version, or -1. */
static int64_t data_version(ct_db *db)
{
    ct_db_stmt *st = NULL;
    int64_t v = -1;
    if (ct_db_prepare(db, "PRAGMA data_version", &st) == CT_OK && ct_db_step(st) == CT_DB_ROW)
        v = ct_db_col_int64(st, 0);
    ct_db_finalize(st);
    return v;
}

static void read_seqs(ct_db *db, int64_t *outbox, int64_t *events)
{
    ct_db_stmt *st = NULL;
    if (ct_db_prepare(db, "SELECT name, seq FROM sqlite_sequence "
                          "WHERE name IN ('outbox', 'job_events')", &st) != CT_OK)
        return;
    while (ct_db_step(st) == CT_DB_ROW) {
        const char *name = ct_db_col_text(st, 0);
        if (name && strcmp(name, "outbox") == 0)
            *outbox = ct_db_col_int64(st, 1);
        else if (name)
            *events = ct_db_col_int64(st, 1);
    }
    ct_db_finalize(st);
}

static void check(struct meta_watch *w)
{
    int64_t v = data_version(w->db);
    if (v < 0 || v == w->version)
        return;
    w->version = v;
    meta_bump_epoch(w->m);
    int64_t outbox = w->outbox_seq, events = w->events_seq;
    read_seqs(w->db, &outbox, &events);
    int job = events != w->events_seq, out = job || outbox != w->outbox_seq;
    w->outbox_seq = outbox;
    w->events_seq = events;
    if (job)
        meta_notify_job(w->m);
    if (out)
        meta_notify_outbox(w->m);
}

static void *watch_thread(void *arg)
{
    struct meta_watch *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long ns = ts.tv_nsec + WATCH_MS * 1000000L;
        ts.tv_sec += ns / 1000000000L;
        ts.tv_nsec = ns % 1000000000L;
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        if (w->stopping)
            break;
        pthread_mutex_unlock(&w->mu);
        check(w);
        meta_readers_sweep(w->m);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

ct_err meta_watch_start(ct_meta *m, const char *path, struct meta_watch **out)
{
    struct meta_watch *w = calloc(1, sizeof *w);
    if (!w)
        return CT_ERR_NOMEM;
    w->m = m;
    ct_err err = ct_db_open(path, &w->db);
    if (err) {
        free(w);
        return err;
    }
    w->version = data_version(w->db);
    read_seqs(w->db, &w->outbox_seq, &w->events_seq);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, watch_thread, w) != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        ct_db_close(w->db);
        free(w);
        return CT_ERR_INTERNAL;
    }
    *out = w;
    return CT_OK;
}

void meta_watch_stop(struct meta_watch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    ct_db_close(w->db);
    free(w);
}
