/* db_ckpt.c: WAL checkpoints off the writer's path (SQLite).
 *
 * DESIGN: SQLite checkpoints in the connection that commits, once the WAL
 * holds DB_CKPT_PAGES frames: it copies them all to the database file and
 * fsyncs both files while the writer (and, in meta, every put waiting for
 * the group commit) waits. At 16 clients of 4 KiB PUTs that was ~3.5 ms
 * every ~50 commits, a tenth of the time. Here the commit's WAL hook hands
 * the first checkpoint of a WAL cycle to a thread with its own connection
 * (PASSIVE: it never blocks the writer, who goes on appending), and only
 * once that has run does the writer checkpoint inline: by then it copies
 * just what was appended meanwhile, and the inline checkpoint, which no
 * commit can overtake, is what lets the next commit restart the WAL from
 * its start (a WAL that never restarts grows, and every fdatasync of it
 * then writes the inode too). A WAL past DB_CKPT_BACKSTOP frames is
 * checkpointed inline whatever the thread is doing.
 * Ownership: db_ckpt_new copies path; db_ckpt_free stops and joins the
 * thread and closes its connection. */
#include "meta/db_internal.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

enum { CK_IDLE, CK_ASKED, CK_DONE }; /* per WAL cycle */

struct db_ckpt {
    char *path;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int started, stopping, state;
};

db_ckpt *db_ckpt_new(const char *path)
{
    db_ckpt *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(path))) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    return c;
}

/* One PASSIVE checkpoint on the thread's connection (opened on first use;
 * synchronous=FULL: the checkpoint fsyncs the WAL before copying and the
 * database file after). */
static void checkpoint(db_ckpt *c, sqlite3 **h)
{
    if (!*h) {
        if (sqlite3_open_v2(c->path, h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                            db_walbuf_vfs()) != SQLITE_OK ||
            sqlite3_exec(*h, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK) {
            ct_warn("meta: checkpoint connection to %s: %s", c->path,
                    *h ? sqlite3_errmsg(*h) : "out of memory");
            sqlite3_close_v2(*h);
            *h = NULL;
            return; /* the writer's inline checkpoint does the work instead */
        }
    }
    int rc = sqlite3_wal_checkpoint_v2(*h, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) /* BUSY: another process checkpoints */
        ct_warn("meta: checkpoint of %s: %s", c->path, sqlite3_errmsg(*h));
}

static void *ckpt_thread(void *arg)
{
    db_ckpt *c = arg;
    sqlite3 *h = NULL;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->stopping && c->state != CK_ASKED)
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->stopping)
            break;
        pthread_mutex_unlock(&c->mu);
        checkpoint(c, &h);
        pthread_mutex_lock(&c->mu);
        if (c->state == CK_ASKED) /* else the WAL restarted meanwhile */
            c->state = CK_DONE;
    }
    pthread_mutex_unlock(&c->mu);
    sqlite3_close_v2(h);
    return NULL;
}

int db_ckpt_after_commit(db_ckpt *c, int pages)
{
    if (!c)
        return pages >= DB_CKPT_PAGES;
    int inline_now = 0;
    pthread_mutex_lock(&c->mu);
    if (pages < DB_CKPT_PAGES) {
        c->state = CK_IDLE; /* a new WAL cycle (or not yet full) */
    } else if (pages >= DB_CKPT_BACKSTOP || c->state == CK_DONE) {
        inline_now = 1;
    } else if (c->state == CK_IDLE) {
        if (!c->started && pthread_create(&c->thread, NULL, ckpt_thread, c) == 0)
            c->started = 1;
        if (c->started) {
            c->state = CK_ASKED;
            pthread_cond_signal(&c->cv);
        } else {
            inline_now = 1;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return inline_now;
}

void db_ckpt_free(db_ckpt *c)
{
    if (!c)
        return;
    if (c->started) {
        pthread_mutex_lock(&c->mu);
        c->stopping = 1;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->thread, NULL);
    }
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c->path);
    free(c);
}
