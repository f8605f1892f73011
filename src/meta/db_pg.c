/* db_pg.c: the PostgreSQL driver of db.h (libpq).
 *
 * DESIGN: a statement is kept as text with '?'/'?N' rewritten to $N and runs
 * with PQexecParams at its first step (no server-side prepare: meta's
 * statements are short and a pooler in between stays happy). Integers are
 * sent typed (int8) so that INSERT ... SELECT and arithmetic on parameters
 * resolve; text goes untyped and takes the type of what it meets. The whole
 * result is fetched at once (meta's queries are bounded by LIMIT). Outside a
 * transaction a lost connection is reset and the statement retried once, as
 * are deadlock/serialization failures (they roll the statement back
 * entirely); inside one the error is returned and the caller rolls back.
 * Transactions run at READ COMMITTED: meta's writes are single UPDATEs that
 * re-check their WHERE on the locked row, row locks (FOR UPDATE SKIP LOCKED
 * for claims) and advisory locks where a read decides a later write. */
#include "meta/db_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PG_INT8_OID 20
#define PG_BYTEA_OID 17
#define PG_MAX_PARAMS 32

typedef struct {
    ct_db base;
    PGconn *conn;
    char *url;
    int in_txn;
    int txn_retry; /* the last transaction failed in a way a rerun may fix */
} pg_db;

typedef struct {
    ct_db_stmt base;
    char *sql;
    int nparams;
    char *values[PG_MAX_PARAMS];
    Oid types[PG_MAX_PARAMS];
    PGresult *res;
    int row, nrows;
    unsigned char *blob; /* the last col_blob's decoded bytes */
} pg_stmt;

static pg_db *pg_of(ct_db *db) { return (pg_db *)db; }

static void quiet_notice(void *arg, const char *msg) { (void)arg, (void)msg; }

/* Rewrites '?' and '?N' to $N outside string literals and quoted names. A
 * bare '?' takes the number after the largest so far (SQLite's rule). */
static char *translate_params(const char *sql, int *nparams)
{
    size_t n = strlen(sql);
    char *out = malloc(n * 4 + 1), *o = out;
    int max = 0;
    char quote = 0;
    if (!out)
        return NULL;
    for (const char *p = sql; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
            *o++ = *p;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
            *o++ = *p;
        } else if (*p == '?') {
            int num = 0;
            while (p[1] >= '0' && p[1] <= '9')
                num = num * 10 + (*++p - '0');
            if (!num)
                num = max + 1;
            if (num > max)
                max = num;
            o += sprintf(o, "$%d", num);
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    *nparams = max;
    return out;
}

/* SQLSTATE -> ct_err. */
static ct_err state_err(const char *state)
{
    if (!state)
        return CT_ERR_DB;
    if (strncmp(state, "23", 2) == 0) /* unique, foreign key, not null, check */
        return CT_ERR_EXISTS;
    if (strncmp(state, "22", 2) == 0) /* data exception: e.g. text that is not UTF-8 */
        return CT_ERR_INVALID;
    if (strcmp(state, "53100") == 0)
        return CT_ERR_NOSPC;
    if (strcmp(state, "53200") == 0)
        return CT_ERR_NOMEM;
    if (strcmp(state, "54000") == 0)
        return CT_ERR_TOO_LARGE;
    return CT_ERR_DB;
}

static int is_retryable(const char *state)
{
    return state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0);
}

/* A failed result: logs (constraint violations are expected, so debug). */
static ct_err result_err(pg_db *db, PGresult *r, const char *sql)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    ct_err e = state_err(state);
    const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(db->conn);
    if (e == CT_ERR_EXISTS || e == CT_ERR_INVALID)
        ct_debug("meta: pg: %s", msg);
    else
        ct_error("meta: pg: %s[%s] %s", msg, state ? state : "-", sql ? sql : "");
    return e;
}

static int reconnect(pg_db *db)
{
    if (PQstatus(db->conn) == CONNECTION_OK)
        return 0;
    ct_warn("meta: pg: connection lost, reconnecting");
    PQreset(db->conn);
    return PQstatus(db->conn) == CONNECTION_OK ? 0 : -1;
}

static void pg_close(ct_db *d)
{
    pg_db *db = pg_of(d);
    PQfinish(db->conn);
    free(db->url);
    free(db);
}

static ct_err pg_exec_raw(pg_db *db, const char *sql)
{
    for (int attempt = 0;; attempt++) {
        PGresult *r = PQexec(db->conn, sql);
        ExecStatusType s = PQresultStatus(r);
        if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
            PQclear(r);
            return CT_OK;
        }
        const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        int retry = !db->in_txn && attempt < 3 &&
                    (is_retryable(state) || (PQstatus(db->conn) != CONNECTION_OK &&
                                             reconnect(db) == 0));
        if (!retry) {
            ct_err e = result_err(db, r, sql);
            if (db->in_txn)
                db->txn_retry = is_retryable(state) || PQstatus(db->conn) != CONNECTION_OK;
            PQclear(r);
            return e;
        }
        PQclear(r);
    }
}

static ct_err pg_exec(ct_db *d, const char *sql) { return pg_exec_raw(pg_of(d), sql); }

/* Replaces whole upper-case words of SQLite DDL by their PostgreSQL form. */
static ct_err pg_exec_ddl(ct_db *d, const char *sql)
{
    static const struct { const char *from, *to; } map[] = {
        {"INTEGER PRIMARY KEY AUTOINCREMENT",
         "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"},
        {"INTEGER", "BIGINT"},
        {"TEXT", "TEXT COLLATE \"C\""},
        {"WITHOUT ROWID", ""},
    };
    char *out = malloc(strlen(sql) * 4 + 1), *o = out;
    if (!out)
        return CT_ERR_NOMEM;
    for (const char *p = sql; *p;) {
        int done = 0;
        int word_start = p == sql || !(p[-1] == '_' || (p[-1] >= 'A' && p[-1] <= 'Z') ||
                                       (p[-1] >= 'a' && p[-1] <= 'z'));
        for (size_t i = 0; word_start && !done && i < CT_ARRAY_LEN(map); i++) {
            size_t l = strlen(map[i].from);
            if (strncmp(p, map[i].from, l) == 0 && /* then p[l] exists */
                !(p[l] == '_' || (p[l] >= 'A' && p[l] <= 'Z') || (p[l] >= 'a' && p[l] <= 'z'))) {
                o = stpcpy(o, map[i].to);
                p += l;
                done = 1;
            }
        }
        if (!done)
            *o++ = *p++;
    }
    *o = '\0';
    ct_err e = pg_exec_raw(pg_of(d), out);
    free(out);
    return e;
}

static ct_err pg_prepare(ct_db *d, const char *sql, ct_db_stmt **out)
{
    pg_stmt *st = calloc(1, sizeof *st);
    if (!st)
        return CT_ERR_NOMEM;
    st->sql = translate_params(sql, &st->nparams);
    if (!st->sql || st->nparams > PG_MAX_PARAMS) {
        ct_err e = st->sql ? CT_ERR_INTERNAL : CT_ERR_NOMEM;
        ct_error("meta: pg: cannot prepare (%d parameters): %s", st->nparams, sql);
        free(st->sql);
        free(st);
        return e;
    }
    st->base.db = d;
    *out = &st->base;
    return CT_OK;
}

static void clear_params(pg_stmt *st)
{
    for (int i = 0; i < PG_MAX_PARAMS; i++) {
        free(st->values[i]);
        st->values[i] = NULL;
    }
}

static void pg_finalize(ct_db_stmt *s)
{
    pg_stmt *st = (pg_stmt *)s;
    clear_params(st);
    PQclear(st->res);
    free(st->blob);
    free(st->sql);
    free(st);
}

static void set_param(ct_db_stmt *s, int i, char *v, Oid type)
{
    pg_stmt *st = (pg_stmt *)s;
    if (i < 1 || i > st->nparams) {
        free(v);
        return;
    }
    free(st->values[i - 1]);
    st->values[i - 1] = v;
    st->types[i - 1] = type;
}

static void pg_bind_text(ct_db_stmt *s, int i, const char *v) { set_param(s, i, strdup(v), 0); }

static void pg_bind_int64(ct_db_stmt *s, int i, int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    set_param(s, i, strdup(buf), PG_INT8_OID);
}

static void pg_bind_null(ct_db_stmt *s, int i) { set_param(s, i, NULL, 0); }

/* bytea in its text form, "\\x" and hex: the parameters are all text. */
static void pg_bind_blob(ct_db_stmt *s, int i, const void *p, size_t n)
{
    char *v = malloc(2 * n + 3);
    if (v) {
        v[0] = '\\';
        v[1] = 'x';
        ct_hex(p, n, v + 2);
        v[2 * n + 2] = '\0';
    }
    set_param(s, i, v, PG_BYTEA_OID);
}

static int run(pg_stmt *st)
{
    pg_db *db = pg_of(st->base.db);
    for (int attempt = 0;; attempt++) {
        PGresult *r = PQexecParams(db->conn, st->sql, st->nparams, st->types,
                                   (const char *const *)st->values, NULL, NULL, 0);
        ExecStatusType s = PQresultStatus(r);
        if (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK) {
            st->res = r;
            st->nrows = s == PGRES_TUPLES_OK ? PQntuples(r) : 0;
            st->row = -1;
            st->base.changes = atoi(PQcmdTuples(r));
            return 0;
        }
        const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        int retry = !db->in_txn && attempt < 3 &&
                    (is_retryable(state) || (PQstatus(db->conn) != CONNECTION_OK &&
                                             reconnect(db) == 0));
        if (!retry) {
            st->base.err = result_err(db, r, st->sql);
            if (db->in_txn)
                db->txn_retry = is_retryable(state) || PQstatus(db->conn) != CONNECTION_OK;
            PQclear(r);
            return -1;
        }
        PQclear(r);
    }
}

static int pg_step(ct_db_stmt *s)
{
    pg_stmt *st = (pg_stmt *)s;
    if (!st->res && run(st))
        return CT_DB_ERROR;
    if (++st->row < st->nrows)
        return CT_DB_ROW;
    st->row = st->nrows;
    return CT_DB_DONE;
}

static int valid_cell(pg_stmt *st, int col)
{
    return st->res && st->row >= 0 && st->row < st->nrows && col >= 0 && col < PQnfields(st->res);
}

static const char *pg_col_text(ct_db_stmt *s, int col)
{
    pg_stmt *st = (pg_stmt *)s;
    if (!valid_cell(st, col) || PQgetisnull(st->res, st->row, col))
        return NULL;
    return PQgetvalue(st->res, st->row, col);
}

static int64_t pg_col_int64(ct_db_stmt *s, int col)
{
    const char *t = pg_col_text(s, col);
    if (!t)
        return 0;
    if (t[0] == 't' || t[0] == 'f') /* boolean */
        return t[0] == 't';
    return strtoll(t, NULL, 10);
}

static int pg_col_is_null(ct_db_stmt *s, int col) { return pg_col_text(s, col) == NULL; }

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Results come as text: bytea_output 'hex' ("\\x..."), the default since 9.0. */
static const void *pg_col_blob(ct_db_stmt *s, int col, size_t *len)
{
    pg_stmt *st = (pg_stmt *)s;
    const char *t = pg_col_text(s, col);
    if (!t)
        return NULL;
    size_t n = strlen(t);
    if (n < 2 || t[0] != '\\' || t[1] != 'x' || n % 2) {
        ct_error("meta: pg: bytea column not in hex form");
        return NULL;
    }
    free(st->blob);
    if (!(st->blob = malloc(n / 2))) /* n/2 - 1 bytes, at least 1 */
        return NULL;
    for (size_t i = 2; i < n; i += 2) {
        int hi = hexval(t[i]), lo = hexval(t[i + 1]);
        if (hi < 0 || lo < 0)
            return NULL;
        st->blob[i / 2 - 1] = (unsigned char)(hi << 4 | lo);
    }
    *len = n / 2 - 1;
    return st->blob;
}

static ct_err pg_begin(ct_db *d)
{
    pg_db *db = pg_of(d);
    db->txn_retry = 0;
    ct_err e = pg_exec_raw(db, "BEGIN");
    db->in_txn = e == CT_OK;
    return e;
}

static ct_err pg_commit(ct_db *d)
{
    pg_db *db = pg_of(d);
    PGresult *r = PQexec(db->conn, "COMMIT");
    ct_err e = CT_OK;
    /* COMMIT of an aborted transaction "succeeds" with the tag ROLLBACK. */
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        e = result_err(db, r, "COMMIT");
        db->txn_retry = is_retryable(state) || PQstatus(db->conn) != CONNECTION_OK;
    } else if (strcmp(PQcmdStatus(r), "COMMIT") != 0)
        e = CT_ERR_DB;
    PQclear(r);
    db->in_txn = 0;
    return e;
}

static void pg_rollback(ct_db *d)
{
    pg_db *db = pg_of(d);
    PQclear(PQexec(db->conn, "ROLLBACK"));
    db->in_txn = 0;
}

static int pg_txn_retryable(ct_db *d) { return pg_of(d)->txn_retry; }

static const ct_db_ops pg_ops = {
    pg_close,    pg_exec,        pg_exec_ddl, pg_prepare, pg_finalize, pg_bind_text,
    pg_bind_int64, pg_bind_null, pg_step,     pg_col_text, pg_col_int64, pg_col_is_null,
    pg_begin,    pg_commit,      pg_rollback, pg_txn_retryable, pg_bind_blob, pg_col_blob,
};

static PGconn *connect_url(const char *url)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK) {
        ct_error("meta: cannot connect to PostgreSQL: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, quiet_notice, NULL);
    return c;
}

ct_err db_pg_open(const char *url, ct_db **out)
{
    pg_db *db = calloc(1, sizeof *db);
    if (!db || !(db->url = strdup(url))) {
        free(db);
        return CT_ERR_NOMEM;
    }
    db->base.ops = &pg_ops;
    db->base.dialect = CT_DB_PG;
    if (!(db->conn = connect_url(url))) {
        free(db->url);
        free(db);
        return CT_ERR_DB;
    }
    *out = &db->base;
    return CT_OK;
}

/* ------------------------------------------------------------ LISTEN */

struct ct_db_listener {
    char *url;
    char **channels;
    int n;
    ct_db_notify_fn cb;
    void *ctx;
    pthread_t thread;
    int stop_pipe[2];
};

static PGconn *listen_connect(ct_db_listener *l)
{
    PGconn *c = connect_url(l->url);
    for (int i = 0; c && i < l->n; i++) {
        char *id = PQescapeIdentifier(c, l->channels[i], strlen(l->channels[i]));
        char sql[256];
        snprintf(sql, sizeof sql, "LISTEN %s", id ? id : "x");
        PQfreemem(id);
        PGresult *r = PQexec(c, sql);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok) {
            PQfinish(c);
            c = NULL;
        }
    }
    return c;
}

/* Waits for the socket or the stop pipe; 1 when asked to stop. */
static int wait_io(ct_db_listener *l, int fd, int timeout_ms)
{
    struct pollfd p[2] = {{l->stop_pipe[0], POLLIN, 0}, {fd, POLLIN, 0}};
    int n = poll(p, fd >= 0 ? 2 : 1, timeout_ms);
    return n > 0 && (p[0].revents & POLLIN);
}

static void *listen_thread(void *arg)
{
    ct_db_listener *l = arg;
    PGconn *c = NULL;
    for (;;) {
        if (!c) {
            if (!(c = listen_connect(l))) {
                if (wait_io(l, -1, 1000))
                    break;
                continue;
            }
            for (int i = 0; i < l->n; i++) /* may have missed some while away */
                l->cb(l->ctx, l->channels[i]);
        }
        if (wait_io(l, PQsocket(c), 1000))
            break;
        if (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK) {
            ct_warn("meta: pg: listener connection lost: %s", PQerrorMessage(c));
            PQfinish(c);
            c = NULL;
            continue;
        }
        PGnotify *nf;
        while ((nf = PQnotifies(c))) {
            l->cb(l->ctx, nf->relname);
            PQfreemem(nf);
        }
    }
    PQfinish(c);
    return NULL;
}

static void listener_free(ct_db_listener *l)
{
    for (int i = 0; l->channels && i < l->n; i++)
        free(l->channels[i]);
    free(l->channels);
    free(l->url);
    if (l->stop_pipe[0] >= 0)
        close(l->stop_pipe[0]);
    if (l->stop_pipe[1] >= 0)
        close(l->stop_pipe[1]);
    free(l);
}

ct_err db_pg_listen(ct_db *d, const char *const *channels, int n, ct_db_notify_fn cb, void *ctx,
                    ct_db_listener **out)
{
    ct_db_listener *l = calloc(1, sizeof *l);
    if (!l)
        return CT_ERR_NOMEM;
    l->stop_pipe[0] = l->stop_pipe[1] = -1;
    l->url = strdup(pg_of(d)->url);
    l->channels = calloc((size_t)n, sizeof *l->channels);
    if (!l->url || !l->channels || pipe2(l->stop_pipe, O_CLOEXEC) != 0)
        goto fail;
    for (int i = 0; i < n; i++)
        if (!(l->channels[l->n++] = strdup(channels[i])))
            goto fail;
    l->cb = cb;
    l->ctx = ctx;
    if (pthread_create(&l->thread, NULL, listen_thread, l) != 0)
        goto fail;
    *out = l;
    return CT_OK;
fail:
    listener_free(l);
    return CT_ERR_NOMEM;
}

void db_pg_listen_stop(ct_db_listener *l)
{
    ssize_t w = write(l->stop_pipe[1], "x", 1);
    (void)w;
    pthread_join(l->thread, NULL);
    listener_free(l);
}
