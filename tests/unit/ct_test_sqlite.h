/* SQLite helpers shared by the unit tests of meta's SQLite layer. */
#ifndef CT_TEST_SQLITE_H
#define CT_TEST_SQLITE_H

#include <sqlite3.h>
#include <string.h>

/* The first column of the first row as an integer; -1 when there is none. */
static long long scalar(sqlite3 *h, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* 1 when PRAGMA integrity_check answers "ok". */
static int integrity_ok(sqlite3 *h)
{
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
             sqlite3_step(st) == SQLITE_ROW &&
             strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
    sqlite3_finalize(st);
    return ok;
}

#endif
