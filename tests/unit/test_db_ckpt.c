/* db_ckpt.c: the first checkpoint of a WAL cycle runs on the thread (it
 * copies the frames to the database file while the caller goes on), later
 * ones and a WAL past the backstop are the caller's; and through ct_db, a
 * writer committing thousands of transactions keeps its WAL bounded and
 * every row intact. */
#include "ct_test.h"
#include "ct_test_sqlite.h"
#include "meta/db_internal.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* DIR/NAME and its WAL's path. */
static void db_paths(const char *dir, const char *name, char path[300], char wal[310])
{
    snprintf(path, 300, "%s/%s", dir, name);
    snprintf(wal, 310, "%s-wal", path);
}

static void thread_then_caller(const char *dir)
{
    char path[300], wal[310];
    db_paths(dir, "a.db", path, wal);
    sqlite3 *w = NULL;
    db_ckpt *c = NULL;
    CHECK(sqlite3_open(path, &w) == SQLITE_OK);
    CHECK(sqlite3_exec(w, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;"
                          "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);"
                          "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n"
                          " WHERE i < 400) INSERT INTO t SELECT i, randomblob(4000) FROM n;",
                       NULL, NULL, NULL) == SQLITE_OK);
    long long before = file_size(path);
    CHECK(file_size(wal) > 400 * 4000); /* all of it still in the WAL */
    CHECK((c = db_ckpt_new(path)) != NULL);
    if (!c)
        goto cleanup;
    CHECK(db_ckpt_after_commit(c, 10) == 0);
    CHECK(db_ckpt_after_commit(c, DB_CKPT_PAGES) == 0); /* handed to the thread */
    int done = 0;
    for (int i = 0; i < 1000 && !done; i++) { /* 1 once the thread has run: the caller's turn */
        done = db_ckpt_after_commit(c, DB_CKPT_PAGES + 1);
        if (!done)
            sleep_ms(10);
    }
    CHECK(done);
    CHECK(file_size(path) > before + 400 * 4000); /* the thread copied the frames */
    sqlite3_stmt *st = NULL; /* nothing left for the caller to copy */
    CHECK(sqlite3_prepare_v2(w, "PRAGMA wal_checkpoint(PASSIVE)", -1, &st, NULL) == SQLITE_OK &&
          sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 0 &&
          sqlite3_column_int(st, 1) == sqlite3_column_int(st, 2));
    sqlite3_finalize(st);
    CHECK(db_ckpt_after_commit(c, 5) == 0); /* a new cycle */
    CHECK(db_ckpt_after_commit(c, DB_CKPT_BACKSTOP) == 1);
    CHECK(db_ckpt_after_commit(c, DB_CKPT_PAGES) == 0); /* the thread again */
    CHECK(db_ckpt_after_commit(NULL, DB_CKPT_PAGES - 1) == 0);
    CHECK(db_ckpt_after_commit(NULL, DB_CKPT_PAGES) == 1);
    CHECK(scalar(w, "SELECT count(*) FROM t") == 400);
cleanup:
    db_ckpt_free(c); /* joins the thread, whatever it is doing */
    sqlite3_close(w);
}

/* ct_db's SQLite writer: 3000 commits of a 4000-byte row, one at a time. */
static void writer_stays_bounded(const char *dir)
{
    char path[300], wal[310];
    db_paths(dir, "b.db", path, wal);
    ct_db *db = NULL;
    sqlite3 *r = NULL;
    char *blob = malloc(4000);
    CHECK(blob && ct_db_open(path, &db) == CT_OK);
    if (!blob || !db)
        goto cleanup;
    CHECK(ct_db_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)") == CT_OK);
    long long max_wal = 0;
    int bad = 0;
    for (int i = 0; i < 3000; i++) {
        ct_db_stmt *st = NULL;
        memset(blob, i & 0xff, 4000);
        ct_err e = ct_db_begin(db);
        if (!e && !(e = ct_db_prepare(db, "INSERT INTO t(id, v) VALUES (?, ?)", &st))) {
            ct_db_bind_int64(st, 1, i);
            ct_db_bind_blob(st, 2, blob, 4000);
            e = ct_db_step_done(st);
        }
        ct_db_finalize(st);
        e = e ? (ct_db_rollback(db), e) : ct_db_commit(db);
        bad += e != CT_OK;
        long long ws = file_size(wal);
        if (ws > max_wal)
            max_wal = ws;
    }
    CHECK(bad == 0);
    /* Restarted every cycle: never near what 6000 frames would need. */
    CHECK(max_wal > 0 && max_wal < (long long)(DB_CKPT_BACKSTOP + 100) * (4096 + 24));
    CHECK(sqlite3_open_v2(path, &r, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    CHECK(scalar(r, "SELECT count(*) FROM t") == 3000);
    CHECK(scalar(r, "SELECT count(*) FROM t WHERE length(v) = 4000 AND"
                    " substr(v, 4000, 1) = substr(v, 1, 1)") == 3000);
    CHECK(integrity_ok(r));
cleanup:
    sqlite3_close(r);
    ct_db_close(db); /* stops the checkpoint thread */
    free(blob);
}

int main(void)
{
    char dir[] = "/tmp/ct-ckpt-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    writer_stays_bounded(dir); /* first: ct_db_open sets SQLite up */
    thread_then_caller(dir);
    ct_test_rmdir(dir);
    CT_TEST_END();
}
