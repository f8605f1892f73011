/* A PostgreSQL database for unit tests that run the same test functions on
 * both meta engines.
 *   CATTUBE_TEST_PG=postgresql://user@host:port  use that server (a fresh
 *                                                database is created on it)
 *   CATTUBE_TEST_PG=off                          skip the PostgreSQL run
 *   unset: start a throwaway server with ../pg/start_pg.sh (CTest runs unit
 *   tests in tests/unit), stopped by ct_test_pg_stop.
 * Failing to get a database is a test failure, not a skip: CI must run both. */
#ifndef CT_TEST_PG_H
#define CT_TEST_PG_H

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char ct_pg_dir[64];
static void ct_pg_quiet(void *arg, const char *msg) { (void)arg, (void)msg; }
static char ct_pg_base[256];

static int ct_pg_start(void)
{
    snprintf(ct_pg_dir, sizeof ct_pg_dir, "/tmp/ct-test-pg-XXXXXX");
    if (!mkdtemp(ct_pg_dir))
        return -1;
    char cmd[256]; /* the server goes with this process, even if it crashes */
    snprintf(cmd, sizeof cmd, "CT_PG_OWNER_PID=%d ../pg/start_pg.sh %s", (int)getpid(),
             ct_pg_dir);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    int ok = fgets(ct_pg_base, sizeof ct_pg_base, p) != NULL;
    if (pclose(p) != 0 || !ok)
        return -1;
    ct_pg_base[strcspn(ct_pg_base, "\n")] = '\0';
    return 0;
}

/* NULL when CATTUBE_TEST_PG=off; "" on failure (the caller CHECKs). */
static const char *ct_test_pg_url(const char *name, char *out, size_t n)
{
    const char *env = getenv("CATTUBE_TEST_PG");
    if (env && strcmp(env, "off") == 0)
        return NULL;
    out[0] = '\0';
    if (env && *env)
        snprintf(ct_pg_base, sizeof ct_pg_base, "%s", env);
    else if (!ct_pg_base[0] && ct_pg_start() != 0) {
        fprintf(stderr, "ct_test_pg: could not start PostgreSQL with ../pg/start_pg.sh\n");
        return out;
    }
    char admin[320], sql[128], db[64];
    snprintf(db, sizeof db, "ct_%s_%d", name, (int)getpid());
    snprintf(admin, sizeof admin, "%s/postgres", ct_pg_base);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s; ", db);
    PGconn *c = PQconnectdb(admin);
    PGresult *r = NULL;
    if (PQstatus(c) == CONNECTION_OK) {
        PQsetNoticeProcessor(c, ct_pg_quiet, NULL);
        PQclear(PQexec(c, sql));
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
        r = PQexec(c, sql);
    }
    if (r && PQresultStatus(r) == PGRES_COMMAND_OK)
        snprintf(out, n, "%s/%s", ct_pg_base, db);
    else
        fprintf(stderr, "ct_test_pg: %s\n", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return out;
}

static void ct_test_pg_stop(void)
{
    if (!ct_pg_dir[0])
        return;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "../pg/stop_pg.sh %s; rm -rf %s", ct_pg_dir, ct_pg_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "ct_test_pg: stopping the server failed\n");
}

#endif
