/* db_walbuf.c: a writer on the "ct-walbuf" VFS and a reader on SQLite's
 * default VFS (its own file handles, as another process would have) must
 * agree on every committed row, whatever the synchronous setting, across
 * WAL restarts, transactions that spill pages into the WAL before they
 * commit (read back, rewritten, rolled back), and commits larger than the
 * buffer. */
#include "ct_test.h"
#include "ct_test_sqlite.h"
#include "meta/db_internal.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

static sqlite3 *open_db(const char *path, const char *vfs, const char *sync)
{
    sqlite3 *h = NULL;
    char sql[160];
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs) != SQLITE_OK)
        return NULL;
    snprintf(sql, sizeof sql, "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;", sync);
    sqlite3_busy_timeout(h, 5000);
    if (sqlite3_exec(h, sql, NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_close(h);
        return NULL;
    }
    return h;
}

static void fill(unsigned char *b, int n, int seed)
{
    for (int i = 0; i < n; i++)
        b[i] = (unsigned char)(seed * 31 + i * 7 + (i >> 8));
}

static int put(sqlite3 *h, int id, int n)
{
    unsigned char *b = malloc((size_t)n);
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_NOMEM;
    if (b && sqlite3_prepare_v2(h, "INSERT OR REPLACE INTO t(id, v) VALUES (?, ?)", -1, &st,
                                NULL) == SQLITE_OK) {
        fill(b, n, id);
        sqlite3_bind_int(st, 1, id);
        sqlite3_bind_blob(st, 2, b, n, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc != SQLITE_DONE) /* says why in the log when a CHECK fails */
            fprintf(stderr, "put %d: %s (%d)\n", id, sqlite3_errmsg(h),
                    sqlite3_extended_errcode(h));
    }
    sqlite3_finalize(st);
    free(b);
    return rc == SQLITE_DONE;
}

/* 1 when row id holds the n bytes put() wrote for it. */
static int matches(sqlite3 *h, int id, int n)
{
    sqlite3_stmt *st = NULL;
    int ok = 0;
    unsigned char *want = malloc((size_t)n);
    if (want && sqlite3_prepare_v2(h, "SELECT v FROM t WHERE id = ?", -1, &st, NULL) == SQLITE_OK) {
        fill(want, n, id);
        sqlite3_bind_int(st, 1, id);
        ok = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == n &&
             memcmp(sqlite3_column_blob(st, 0), want, (size_t)n) == 0;
    }
    sqlite3_finalize(st);
    free(want);
    return ok;
}

static void commits_seen_by_other_handle(const char *dir, const char *sync)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.db", dir, sync);
    sqlite3 *w = open_db(path, db_walbuf_vfs(), sync);
    CHECK(w != NULL);
    if (!w)
        return;
    CHECK(sqlite3_exec(w, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)", 0, 0, 0) == 0);
    sqlite3 *r = open_db(path, NULL, sync);
    CHECK(r != NULL);
    int bad = 0;
    for (int i = 0; i < 300 && r; i++) {
        int n = 100 + (i * 997) % 9000; /* from one frame to several overflow pages */
        bad += !put(w, i, n);
        bad += !put(w, i / 2, 100 + ((i / 2) * 997) % 9000); /* rewrites an older row */
        bad += !matches(r, i, n);
        bad += !matches(r, i / 2, 100 + ((i / 2) * 997) % 9000);
        if (i % 60 == 59) /* checkpoint and restart: the next commit rewrites the header */
            bad += sqlite3_exec(r, "PRAGMA wal_checkpoint(TRUNCATE)", 0, 0, 0) != SQLITE_OK;
    }
    CHECK(bad == 0);
    CHECK(scalar(r, "SELECT count(*) FROM t") == 300);
    CHECK(integrity_ok(r));
    sqlite3_close(r);
    sqlite3_close(w);
}

/* A page cache of a few pages makes SQLite spill the transaction's pages
 * into the WAL before the commit and read them back, and makes the commit
 * itself more than the buffer's 120 KiB. */
static void spilled_transactions(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/spill.db", dir);
    sqlite3 *w = open_db(path, db_walbuf_vfs(), "FULL");
    sqlite3 *r = w ? open_db(path, NULL, "FULL") : NULL;
    CHECK(w && r);
    if (!w || !r)
        goto cleanup;
    CHECK(sqlite3_exec(w, "PRAGMA cache_size=8; CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)",
                       0, 0, 0) == SQLITE_OK);
    int bad = 0;
    CHECK(sqlite3_exec(w, "BEGIN", 0, 0, 0) == SQLITE_OK);
    for (int i = 0; i < 1500; i++)
        bad += !put(w, i, 1000 + i % 2000);
    for (int i = 0; i < 1500; i += 7) /* pages already spilled, changed again */
        bad += !put(w, i, 1000 + i % 2000);
    if (sqlite3_exec(w, "COMMIT", 0, 0, 0) != SQLITE_OK) {
        fprintf(stderr, "COMMIT: %s\n", sqlite3_errmsg(w));
        CHECK(0);
    }
    for (int i = 0; i < 1500; i++)
        bad += !matches(r, i, 1000 + i % 2000);
    CHECK(bad == 0);
    CHECK(sqlite3_exec(w, "BEGIN", 0, 0, 0) == SQLITE_OK);
    for (int i = 1500; i < 3000; i++)
        put(w, i, 1500);
    CHECK(scalar(w, "SELECT count(*) FROM t") == 3000); /* its own spilled pages */
    CHECK(sqlite3_exec(w, "ROLLBACK", 0, 0, 0) == SQLITE_OK);
    CHECK(scalar(w, "SELECT count(*) FROM t") == 1500);
    CHECK(scalar(r, "SELECT count(*) FROM t") == 1500);
    CHECK(put(w, 1500, 4000) && matches(r, 1500, 4000));
    CHECK(integrity_ok(r));
cleanup:
    sqlite3_close(r);
    sqlite3_close(w);
}

int main(void)
{
    char dir[] = "/tmp/ct-walbuf-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    CHECK(db_walbuf_vfs() != NULL);
    CHECK(sqlite3_vfs_find("ct-walbuf") != NULL);
    commits_seen_by_other_handle(dir, "FULL");
    commits_seen_by_other_handle(dir, "NORMAL");
    commits_seen_by_other_handle(dir, "OFF");
    spilled_transactions(dir);
    ct_test_rmdir(dir);
    CT_TEST_END();
}
