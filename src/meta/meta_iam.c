/* meta_iam.c: IAM users, their access keys and inline identity policies;
 * IAM roles (the identities jobs run as) and their inline policies.
 *
 * Secrets are stored as iam hands them over (sealed under the master key,
 * iam_users.c): SigV4 needs the secret itself back to verify a signature.
 * Deleting a user or role deletes its keys and policies (ON DELETE CASCADE). */
#include "meta/meta_internal.h"

#include <stdlib.h>
#include <string.h>

const char meta_iam_schema[] =
    "CREATE TABLE IF NOT EXISTS iam_users ("
    " name TEXT PRIMARY KEY, user_id TEXT NOT NULL, created_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS iam_keys ("
    " access_key TEXT PRIMARY KEY,"
    " user_name TEXT NOT NULL REFERENCES iam_users(name) ON DELETE CASCADE,"
    " secret TEXT NOT NULL, created_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS iam_keys_user ON iam_keys(user_name);"
    "CREATE TABLE IF NOT EXISTS iam_user_policies ("
    " user_name TEXT NOT NULL REFERENCES iam_users(name) ON DELETE CASCADE,"
    " policy_name TEXT NOT NULL, document TEXT NOT NULL,"
    " PRIMARY KEY (user_name, policy_name));"
    "CREATE TABLE IF NOT EXISTS iam_roles ("
    " name TEXT PRIMARY KEY, role_id TEXT NOT NULL, created_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS iam_role_policies ("
    " role_name TEXT NOT NULL REFERENCES iam_roles(name) ON DELETE CASCADE,"
    " policy_name TEXT NOT NULL, document TEXT NOT NULL,"
    " PRIMARY KEY (role_name, policy_name));";

static ct_err insert_user(ct_meta *m, const char *name, const char *user_id, int64_t now)
{
    ct_db_stmt *st = NULL;
    ct_err e = meta_prep(m, "INSERT INTO iam_users(name, user_id, created_ms) VALUES(?,?,?)", &st);
    if (!e) {
        ct_db_bind_text(st, 1, name);
        ct_db_bind_text(st, 2, user_id);
        ct_db_bind_int64(st, 3, now);
        e = ct_db_step_done(st);
    }
    ct_db_finalize(st);
    return e;
}

static ct_err insert_key(ct_meta *m, const char *name, const char *ak, const char *sk, int64_t now)
{
    ct_db_stmt *st = NULL;
    ct_err e = meta_prep(m, "INSERT INTO iam_keys(access_key, user_name, secret, created_ms) "
                       "VALUES(?,?,?,?)", &st);
    if (!e) {
        ct_db_bind_text(st, 1, ak);
        ct_db_bind_text(st, 2, name);
        ct_db_bind_text(st, 3, sk);
        ct_db_bind_int64(st, 4, now);
        e = ct_db_step_done(st);
    }
    ct_db_finalize(st);
    return e;
}

ct_err ct_meta_iam_user_create(ct_meta *m, const char *name, const char *user_id,
                               const char *access_key, const char *secret)
{
    int64_t now = ct_now_ms();
    pthread_mutex_lock(&m->mu);
    ct_err e = meta_begin(m);
    if (e)
        goto cleanup;
    if ((e = insert_user(m, name, user_id, now)) ||
        (e = insert_key(m, name, access_key, secret, now))) {
        meta_rollback(m);
        goto cleanup;
    }
    e = meta_commit(m);
cleanup:
    pthread_mutex_unlock(&m->mu);
    return e;
}

/* One statement with text parameters, reporting NOT_FOUND when nothing changed. */
static ct_err exec_change(ct_meta *m, const char *sql, const char *a, const char *b)
{
    ct_db_stmt *st = NULL;
    pthread_mutex_lock(&m->mu);
    ct_err e = meta_prep(m, sql, &st);
    if (!e) {
        ct_db_bind_text(st, 1, a);
        if (b)
            ct_db_bind_text(st, 2, b);
        e = ct_db_step_done(st);
        if (!e && ct_db_changes(st) == 0)
            e = CT_ERR_NOT_FOUND;
    }
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return e;
}

ct_err ct_meta_iam_user_delete(ct_meta *m, const char *name)
{
    return exec_change(m, "DELETE FROM iam_users WHERE name=?", name, NULL);
}

/* Reads the first row of sql (its one parameter: name) with row(); shared by
 * the user and role lookups. CT_ERR_NOT_FOUND when there is none. */
static ct_err get_by_name(ct_meta *m, const char *sql, const char *name,
                          void (*row)(ct_db_stmt *st, void *out), void *out)
{
    ct_db_stmt *st = NULL;
    ct_db *db = meta_read_begin(m);
    ct_err e = ct_db_prepare(db, sql, &st);
    if (e)
        goto cleanup;
    ct_db_bind_text(st, 1, name);
    int rc = ct_db_step(st);
    if (rc == CT_DB_ROW)
        row(st, out);
    else
        e = rc == CT_DB_DONE ? CT_ERR_NOT_FOUND : ct_db_stmt_err(st);
cleanup:
    ct_db_finalize(st);
    meta_read_end(m, db);
    return e;
}

static void row_to_user(ct_db_stmt *st, void *out)
{
    ct_meta_iam_user *u = out;
    memset(u, 0, sizeof *u);
    meta_col_copy(st, 0, u->name, sizeof u->name);
    meta_col_copy(st, 1, u->user_id, sizeof u->user_id);
    u->created_ms = ct_db_col_int64(st, 2);
    meta_col_copy(st, 3, u->access_key, sizeof u->access_key);
}

#define USER_SELECT                                                                              \
    "SELECT u.name, u.user_id, u.created_ms,"                                                    \
    " (SELECT access_key FROM iam_keys k WHERE k.user_name=u.name ORDER BY created_ms LIMIT 1)"  \
    " FROM iam_users u"

ct_err ct_meta_iam_user_get(ct_meta *m, const char *name, ct_meta_iam_user *out)
{
    return get_by_name(m, USER_SELECT " WHERE u.name=?", name, row_to_user, out);
}

ct_err ct_meta_iam_user_list(ct_meta *m, ct_meta_iam_user_cb cb, void *ctx)
{
    ct_db_stmt *st = NULL;
    ct_db *db = meta_read_begin(m);
    ct_err e = ct_db_prepare(db, USER_SELECT " ORDER BY u.name", &st);
    int rc = CT_DB_DONE;
    while (!e && (rc = ct_db_step(st)) == CT_DB_ROW) {
        ct_meta_iam_user u;
        row_to_user(st, &u);
        e = cb(ctx, &u);
    }
    if (!e && rc != CT_DB_DONE)
        e = ct_db_stmt_err(st);
    ct_db_finalize(st);
    meta_read_end(m, db);
    return e;
}

ct_err ct_meta_iam_key_get(ct_meta *m, const char *access_key, char user[72], char *secret,
                           size_t secret_len)
{
    ct_db_stmt *st = NULL;
    ct_db *db = meta_read_begin(m);
    ct_err e = ct_db_prepare(db, "SELECT user_name, secret FROM iam_keys WHERE access_key=?", &st);
    if (e)
        goto cleanup;
    ct_db_bind_text(st, 1, access_key);
    int rc = ct_db_step(st);
    if (rc == CT_DB_ROW) {
        meta_col_copy(st, 0, user, 72);
        meta_col_copy(st, 1, secret, secret_len);
    } else {
        e = rc == CT_DB_DONE ? CT_ERR_NOT_FOUND : ct_db_stmt_err(st);
    }
cleanup:
    ct_db_finalize(st);
    meta_read_end(m, db);
    return e;
}

/* Inline policies of users and roles: the same shape in two tables. */
typedef struct {
    const char *put, *del, *list;
} policy_sql;

static const policy_sql user_policies = {
    "INSERT INTO iam_user_policies(user_name, policy_name, document) VALUES(?,?,?) "
    "ON CONFLICT(user_name, policy_name) DO UPDATE SET document=excluded.document",
    "DELETE FROM iam_user_policies WHERE user_name=? AND policy_name=?",
    "SELECT policy_name, document FROM iam_user_policies WHERE user_name=? ORDER BY policy_name"};

static const policy_sql role_policies = {
    "INSERT INTO iam_role_policies(role_name, policy_name, document) VALUES(?,?,?) "
    "ON CONFLICT(role_name, policy_name) DO UPDATE SET document=excluded.document",
    "DELETE FROM iam_role_policies WHERE role_name=? AND policy_name=?",
    "SELECT policy_name, document FROM iam_role_policies WHERE role_name=? ORDER BY policy_name"};

/* Called with m->mu held. */
static ct_err policy_put_locked(ct_meta *m, const policy_sql *q, const char *owner,
                                const char *policy_name, const char *document)
{
    ct_db_stmt *st = NULL;
    ct_err e = meta_prep(m, q->put, &st);
    if (!e) {
        ct_db_bind_text(st, 1, owner);
        ct_db_bind_text(st, 2, policy_name);
        ct_db_bind_text(st, 3, document);
        e = ct_db_step_done(st);
        if (e == CT_ERR_EXISTS) /* foreign key: no such user or role */
            e = CT_ERR_NOT_FOUND;
    }
    ct_db_finalize(st);
    return e;
}

static ct_err policy_put(ct_meta *m, const policy_sql *q, const char *owner,
                         const char *policy_name, const char *document)
{
    pthread_mutex_lock(&m->mu);
    ct_err e = policy_put_locked(m, q, owner, policy_name, document);
    pthread_mutex_unlock(&m->mu);
    return e;
}

static ct_err policy_list(ct_meta *m, const policy_sql *q, const char *owner,
                          ct_meta_iam_policy_cb cb, void *ctx)
{
    ct_db_stmt *st = NULL;
    ct_db *db = meta_read_begin(m);
    ct_err e = ct_db_prepare(db, q->list, &st);
    int rc = CT_DB_DONE;
    if (!e)
        ct_db_bind_text(st, 1, owner);
    while (!e && (rc = ct_db_step(st)) == CT_DB_ROW)
        e = cb(ctx, ct_db_col_text(st, 0), ct_db_col_text(st, 1));
    if (!e && rc != CT_DB_DONE)
        e = ct_db_stmt_err(st);
    ct_db_finalize(st);
    meta_read_end(m, db);
    return e;
}

ct_err ct_meta_iam_policy_put(ct_meta *m, const char *user, const char *policy_name,
                              const char *document)
{
    return policy_put(m, &user_policies, user, policy_name, document);
}

ct_err ct_meta_iam_policy_delete(ct_meta *m, const char *user, const char *policy_name)
{
    return exec_change(m, user_policies.del, user, policy_name);
}

ct_err ct_meta_iam_policy_list(ct_meta *m, const char *user, ct_meta_iam_policy_cb cb, void *ctx)
{
    return policy_list(m, &user_policies, user, cb, ctx);
}

/* ---- roles ---- */

/* Called with m->mu held; *inserted tells whether the row is new. */
static ct_err insert_role(ct_meta *m, const char *name, const char *role_id, int if_absent,
                          int *inserted)
{
    ct_db_stmt *st = NULL;
    ct_err e = meta_prep(m, if_absent ? "INSERT INTO iam_roles(name, role_id, created_ms) "
                                        "VALUES(?,?,?) ON CONFLICT(name) DO NOTHING"
                                      : "INSERT INTO iam_roles(name, role_id, created_ms) "
                                        "VALUES(?,?,?)", &st);
    if (!e) {
        ct_db_bind_text(st, 1, name);
        ct_db_bind_text(st, 2, role_id);
        ct_db_bind_int64(st, 3, ct_now_ms());
        e = ct_db_step_done(st);
        *inserted = !e && ct_db_changes(st) > 0;
    }
    ct_db_finalize(st);
    return e;
}

ct_err ct_meta_iam_role_create(ct_meta *m, const char *name, const char *role_id)
{
    int inserted = 0;
    pthread_mutex_lock(&m->mu);
    ct_err e = insert_role(m, name, role_id, 0, &inserted);
    pthread_mutex_unlock(&m->mu);
    return e;
}

ct_err ct_meta_iam_role_seed(ct_meta *m, const char *name, const char *role_id,
                             const char *policy_name, const char *document)
{
    int inserted = 0;
    pthread_mutex_lock(&m->mu);
    ct_err e = meta_begin(m);
    if (e)
        goto cleanup;
    if ((e = insert_role(m, name, role_id, 1, &inserted)) ||
        (inserted && (e = policy_put_locked(m, &role_policies, name, policy_name, document)))) {
        meta_rollback(m);
        goto cleanup;
    }
    e = meta_commit(m);
cleanup:
    pthread_mutex_unlock(&m->mu);
    return e;
}

ct_err ct_meta_iam_role_delete(ct_meta *m, const char *name)
{
    return exec_change(m, "DELETE FROM iam_roles WHERE name=?", name, NULL);
}

static void row_to_role(ct_db_stmt *st, void *out)
{
    ct_meta_iam_role *r = out;
    memset(r, 0, sizeof *r);
    meta_col_copy(st, 0, r->name, sizeof r->name);
    meta_col_copy(st, 1, r->role_id, sizeof r->role_id);
    r->created_ms = ct_db_col_int64(st, 2);
}

ct_err ct_meta_iam_role_get(ct_meta *m, const char *name, ct_meta_iam_role *out)
{
    return get_by_name(m, "SELECT name, role_id, created_ms FROM iam_roles WHERE name=?", name,
                       row_to_role, out);
}

ct_err ct_meta_iam_role_list(ct_meta *m, ct_meta_iam_role_cb cb, void *ctx)
{
    ct_db_stmt *st = NULL;
    pthread_mutex_lock(&m->mu);
    ct_err e = meta_prep(m, "SELECT name, role_id, created_ms FROM iam_roles ORDER BY name", &st);
    int rc = CT_DB_DONE;
    while (!e && (rc = ct_db_step(st)) == CT_DB_ROW) {
        ct_meta_iam_role r;
        row_to_role(st, &r);
        e = cb(ctx, &r);
    }
    if (!e && rc != CT_DB_DONE)
        e = ct_db_stmt_err(st);
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return e;
}

ct_err ct_meta_iam_role_policy_put(ct_meta *m, const char *role, const char *policy_name,
                                   const char *document)
{
    return policy_put(m, &role_policies, role, policy_name, document);
}

ct_err ct_meta_iam_role_policy_delete(ct_meta *m, const char *role, const char *policy_name)
{
    return exec_change(m, role_policies.del, role, policy_name);
}

ct_err ct_meta_iam_role_policy_list(ct_meta *m, const char *role, ct_meta_iam_policy_cb cb,
                                    void *ctx)
{
    return policy_list(m, &role_policies, role, cb, ctx);
}
