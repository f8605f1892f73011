/* iam_admin.c: admin API for users, access keys and identity policies
 * (JSON, after SigV4 with service "cattube"; root only).
 *
 *   POST   /cattube/admin/users                      {"userName": N} -> user + its access key
 *   GET    /cattube/admin/users                      {"users": [...]}
 *   GET    /cattube/admin/users/N                    {"user": {...}, "policyNames": [...]}
 *   DELETE /cattube/admin/users/N                    204 (keys and policies go too)
 *   GET    /cattube/admin/users/N/policies           {"policies": [{policyName, policyDocument}]}
 *   PUT    /cattube/admin/users/N/policies/P         body: the policy document -> 204
 *   DELETE /cattube/admin/users/N/policies/P         204
 *   POST   /cattube/admin/policies/validate[?bucket=B]  body: a document -> {"valid": true}
 *   POST   /cattube/admin/roles                      {"roleName": N} -> {"role": {...}}
 *   GET    /cattube/admin/roles                      {"roles": [...]}
 *   GET    /cattube/admin/roles/N                    {"role": {...}, "policyNames": [...]}
 *   DELETE /cattube/admin/roles/N                    204 (409 for the built-in
 *                                                    MediaConvert_Default_Role: edit its policies)
 *   GET|PUT|DELETE /cattube/admin/roles/N/policies[/P]   as for users
 *
 * The secret access key is returned only by the create call. Roles are the
 * identities jobs run as (iam_roles.c); a create body's
 * assumeRolePolicyDocument, if any, is ignored (no trust policies). */
#include "cli/cli.h"
#include "meta/meta.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USERS "/cattube/admin/users"
#define ROLES "/cattube/admin/roles"
#define POLICIES "/cattube/admin/policies"

static void fail(ct_http_resp *resp, int status, const char *type, const char *msg)
{
    json_t *j = json_pack("{s:s, s:s}", "code", type, "message", msg);
    ct_http_resp_json(resp, status, j ? json_dumps(j, JSON_COMPACT) : NULL);
    json_decref(j);
    ct_http_resp_header(resp, "x-amzn-ErrorType", type);
}

static void fail_err(ct_http_resp *resp, ct_err e, const char *what)
{
    char msg[160];
    snprintf(msg, sizeof msg, "%s: %s", what, ct_err_str(e));
    if (e == CT_ERR_NOT_FOUND)
        fail(resp, 404, "NoSuchEntity", msg);
    else if (e == CT_ERR_EXISTS)
        fail(resp, 409, "EntityAlreadyExists", msg);
    else
        fail(resp, 500, "ServiceFailure", msg);
}

static void reply(ct_http_resp *resp, int status, json_t *j)
{
    ct_http_resp_json(resp, status, j ? json_dumps(j, JSON_COMPACT) : NULL);
    json_decref(j);
}

static json_t *user_json(ct_iam *iam, const ct_meta_iam_user *u)
{
    char arn[160], ts[32];
    snprintf(arn, sizeof arn, "arn:aws:iam::%s:user/%s", ct_iam_account_id(iam), u->name);
    ct_time_iso8601(u->created_ms, ts);
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "userName", u->name, "userId", u->user_id,
                     "arn", arn, "createDate", ts, "accessKeyId", u->access_key);
}

static void user_create(ct_iam *iam, const ct_http_req *req, ct_http_resp *resp)
{
    json_t *in = req->body_len ? json_loadb(req->body, req->body_len, 0, NULL) : NULL;
    const char *name = json_string_value(json_object_get(in, "userName"));
    if (!name || !ct_iam_user_name_valid(name)) {
        fail(resp, 400, "ValidationError", "userName must match [A-Za-z0-9+=,.@_-]{1,64}");
        goto cleanup;
    }
    ct_meta_iam_user u = {0};
    char sk[41];
    snprintf(u.name, sizeof u.name, "%s", name);
    memcpy(u.user_id, "AIDA", 4);
    ct_random_alnum(u.user_id + 4, 17, 1);
    ct_iam_new_key(u.access_key, sk);
    u.created_ms = ct_now_ms();
    char sealed[CT_IAM_SEALED_MAX];
    ct_err e = ct_iam_seal_secret(iam, u.access_key, sk, sealed);
    if (!e)
        e = ct_meta_iam_user_create(ct_iam_meta(iam), u.name, u.user_id, u.access_key, sealed);
    explicit_bzero(sealed, sizeof sealed);
    if (e) {
        fail_err(resp, e, "user");
        goto cleanup;
    }
    reply(resp, 200, json_pack("{s:o, s:{s:s, s:s, s:s}}", "user", user_json(iam, &u),
                               "accessKey", "userName", u.name, "accessKeyId", u.access_key,
                               "secretAccessKey", sk));
    explicit_bzero(sk, sizeof sk);
cleanup:
    json_decref(in);
}

typedef struct {
    ct_iam *iam;
    json_t *arr;
} list_ctx;

static ct_err add_user(void *ctx, const ct_meta_iam_user *u)
{
    list_ctx *l = ctx;
    return json_array_append_new(l->arr, user_json(l->iam, u)) ? CT_ERR_NOMEM : CT_OK;
}

static ct_err add_policy(void *ctx, const char *name, const char *doc)
{
    list_ctx *l = ctx;
    json_t *d = json_loads(doc, 0, NULL);
    json_t *item = l->iam ? json_pack("{s:s, s:o}", "policyName", name, "policyDocument",
                                      d ? d : json_string(doc))
                          : json_string(name);
    if (!l->iam)
        json_decref(d);
    return json_array_append_new(l->arr, item) ? CT_ERR_NOMEM : CT_OK;
}

static void user_list(ct_iam *iam, ct_http_resp *resp)
{
    list_ctx l = {iam, json_array()};
    ct_err e = ct_meta_iam_user_list(ct_iam_meta(iam), add_user, &l);
    if (e) {
        json_decref(l.arr);
        fail_err(resp, e, "users");
        return;
    }
    reply(resp, 200, json_pack("{s:o}", "users", l.arr));
}

static void user_get(ct_iam *iam, const char *name, ct_http_resp *resp)
{
    ct_meta_iam_user u;
    ct_err e = ct_meta_iam_user_get(ct_iam_meta(iam), name, &u);
    list_ctx l = {NULL, json_array()};
    if (!e)
        e = ct_meta_iam_policy_list(ct_iam_meta(iam), name, add_policy, &l);
    if (e) {
        json_decref(l.arr);
        fail_err(resp, e, "user");
        return;
    }
    reply(resp, 200, json_pack("{s:o, s:o}", "user", user_json(iam, &u), "policyNames", l.arr));
}

static void policies_list(ct_iam *iam, const char *name, ct_http_resp *resp)
{
    ct_meta_iam_user u;
    list_ctx l = {iam, json_array()};
    ct_err e = ct_meta_iam_user_get(ct_iam_meta(iam), name, &u);
    if (!e)
        e = ct_meta_iam_policy_list(ct_iam_meta(iam), name, add_policy, &l);
    if (e) {
        json_decref(l.arr);
        fail_err(resp, e, "user");
        return;
    }
    reply(resp, 200, json_pack("{s:o}", "policies", l.arr));
}

static void policy_put(ct_iam *iam, const ct_http_req *req, int role, const char *owner,
                       const char *pname, ct_http_resp *resp)
{
    char msg[256];
    if (!req->body || strlen(req->body) != req->body_len) {
        fail(resp, 400, "MalformedPolicyDocument", "the policy document must be JSON text");
        return;
    }
    if (ct_iam_policy_validate(req->body, CT_POLICY_IDENTITY, NULL, msg, sizeof msg)) {
        fail(resp, 400, "MalformedPolicyDocument", msg);
        return;
    }
    ct_err e = role ? ct_meta_iam_role_policy_put(ct_iam_meta(iam), owner, pname, req->body)
                    : ct_meta_iam_policy_put(ct_iam_meta(iam), owner, pname, req->body);
    if (e)
        fail_err(resp, e, role ? "role" : "user");
    else
        resp->status = 204;
}

static void validate(const ct_http_req *req, ct_http_resp *resp)
{
    char msg[256];
    char *bucket = ct_http_query(req, "bucket");
    ct_policy_kind kind = bucket ? CT_POLICY_RESOURCE : CT_POLICY_IDENTITY;
    if (!req->body || strlen(req->body) != req->body_len)
        fail(resp, 400, "MalformedPolicyDocument", "the policy document must be JSON text");
    else if (ct_iam_policy_validate(req->body, kind, bucket, msg, sizeof msg))
        fail(resp, 400, "MalformedPolicyDocument", msg);
    else
        reply(resp, 200, json_pack("{s:b}", "valid", 1));
    free(bucket);
}

/* ---- roles ---- */

static json_t *role_json(ct_iam *iam, const ct_meta_iam_role *r)
{
    char arn[160], ts[32];
    snprintf(arn, sizeof arn, "arn:aws:iam::%s:role/%s", ct_iam_account_id(iam), r->name);
    ct_time_iso8601(r->created_ms, ts);
    return json_pack("{s:s, s:s, s:s, s:s}", "roleName", r->name, "roleId", r->role_id, "arn",
                     arn, "createDate", ts);
}

static void role_create(ct_iam *iam, const ct_http_req *req, ct_http_resp *resp)
{
    json_t *in = req->body_len ? json_loadb(req->body, req->body_len, 0, NULL) : NULL;
    const char *name = json_string_value(json_object_get(in, "roleName"));
    ct_meta_iam_role r = {0};
    if (!name || !ct_iam_user_name_valid(name)) {
        fail(resp, 400, "ValidationError", "roleName must match [A-Za-z0-9+=,.@_-]{1,64}");
        goto cleanup;
    }
    snprintf(r.name, sizeof r.name, "%s", name);
    memcpy(r.role_id, "AROA", 4);
    ct_random_alnum(r.role_id + 4, 17, 1);
    r.created_ms = ct_now_ms();
    ct_err e = ct_meta_iam_role_create(ct_iam_meta(iam), r.name, r.role_id);
    if (e)
        fail_err(resp, e, "role");
    else
        reply(resp, 200, json_pack("{s:o}", "role", role_json(iam, &r)));
cleanup:
    json_decref(in);
}

static ct_err add_role(void *ctx, const ct_meta_iam_role *r)
{
    list_ctx *l = ctx;
    return json_array_append_new(l->arr, role_json(l->iam, r)) ? CT_ERR_NOMEM : CT_OK;
}

static void role_list(ct_iam *iam, ct_http_resp *resp)
{
    list_ctx l = {iam, json_array()};
    ct_err e = ct_meta_iam_role_list(ct_iam_meta(iam), add_role, &l);
    if (e) {
        json_decref(l.arr);
        fail_err(resp, e, "roles");
        return;
    }
    reply(resp, 200, json_pack("{s:o}", "roles", l.arr));
}

/* GET of the role (with_docs 0: its policy names) or of its policies. */
static void role_get(ct_iam *iam, const char *name, int with_docs, ct_http_resp *resp)
{
    ct_meta_iam_role r;
    ct_err e = ct_meta_iam_role_get(ct_iam_meta(iam), name, &r);
    list_ctx l = {with_docs ? iam : NULL, json_array()};
    if (!e)
        e = ct_meta_iam_role_policy_list(ct_iam_meta(iam), name, add_policy, &l);
    if (e) {
        json_decref(l.arr);
        fail_err(resp, e, "role");
        return;
    }
    if (with_docs)
        reply(resp, 200, json_pack("{s:o}", "policies", l.arr));
    else
        reply(resp, 200, json_pack("{s:o, s:o}", "role", role_json(iam, &r), "policyNames", l.arr));
}

static void role_delete(ct_iam *iam, const char *name, ct_http_resp *resp)
{
    if (strcmp(name, CT_IAM_DEFAULT_ROLE) == 0) {
        fail(resp, 409, "DeleteConflict", "MediaConvert_Default_Role is built in and cannot be "
             "deleted; detach or edit its policies to change what default-role jobs may do");
        return;
    }
    ct_err e = ct_meta_iam_role_delete(ct_iam_meta(iam), name);
    if (e)
        fail_err(resp, e, "role");
    else
        resp->status = 204;
}

/* Splits "NAME[/policies[/PNAME]]" (decoded) into parts; -1 when malformed. */
static int split_user_path(const char *rest, char *name, char *pname, int *policies)
{
    size_t dlen;
    char *d = ct_uri_decode(rest, strlen(rest), 0, &dlen);
    int rc = -1;
    if (!d || dlen != strlen(d))
        goto cleanup;
    char *sl = strchr(d, '/');
    *policies = 0;
    pname[0] = '\0';
    if (sl) {
        *sl++ = '\0';
        if (strncmp(sl, "policies", 8) != 0 || (sl[8] && sl[8] != '/'))
            goto cleanup;
        *policies = 1;
        if (sl[8] == '/' && (strlen(sl + 9) > 128 || strchr(sl + 9, '/') ||
                             !ct_iam_user_name_valid(sl + 9)))
            goto cleanup;
        if (sl[8] == '/')
            strcpy(pname, sl + 9);
    }
    if (!ct_iam_user_name_valid(d))
        goto cleanup;
    strcpy(name, d);
    rc = 0;
cleanup:
    free(d);
    return rc;
}

static void user_item(ct_iam *iam, const ct_http_req *req, const char *rest, ct_http_resp *resp)
{
    char name[72], pname[136];
    int policies;
    const char *m = req->method;
    if (split_user_path(rest, name, pname, &policies)) {
        fail(resp, 404, "NotFound", "no such admin resource");
    } else if (!policies && strcmp(m, "GET") == 0) {
        user_get(iam, name, resp);
    } else if (!policies && strcmp(m, "DELETE") == 0) {
        ct_err e = ct_meta_iam_user_delete(ct_iam_meta(iam), name);
        if (e)
            fail_err(resp, e, "user");
        else
            resp->status = 204;
    } else if (policies && !pname[0] && strcmp(m, "GET") == 0) {
        policies_list(iam, name, resp);
    } else if (pname[0] && strcmp(m, "PUT") == 0) {
        policy_put(iam, req, 0, name, pname, resp);
    } else if (pname[0] && strcmp(m, "DELETE") == 0) {
        ct_err e = ct_meta_iam_policy_delete(ct_iam_meta(iam), name, pname);
        if (e)
            fail_err(resp, e, "policy");
        else
            resp->status = 204;
    } else {
        fail(resp, 405, "MethodNotAllowed", "method not allowed on this resource");
    }
}

static void role_item(ct_iam *iam, const ct_http_req *req, const char *rest, ct_http_resp *resp)
{
    char name[72], pname[136];
    int policies;
    const char *m = req->method;
    if (split_user_path(rest, name, pname, &policies)) {
        fail(resp, 404, "NotFound", "no such admin resource");
    } else if (!pname[0] && strcmp(m, "GET") == 0) {
        role_get(iam, name, policies, resp);
    } else if (!policies && strcmp(m, "DELETE") == 0) {
        role_delete(iam, name, resp);
    } else if (pname[0] && strcmp(m, "PUT") == 0) {
        policy_put(iam, req, 1, name, pname, resp);
    } else if (pname[0] && strcmp(m, "DELETE") == 0) {
        ct_err e = ct_meta_iam_role_policy_delete(ct_iam_meta(iam), name, pname);
        if (e)
            fail_err(resp, e, "policy");
        else
            resp->status = 204;
    } else {
        fail(resp, 405, "MethodNotAllowed", "method not allowed on this resource");
    }
}

static int is_collection(const char *p, const char *base)
{
    size_t n = strlen(base);
    return strncmp(p, base, n) == 0 && (!p[n] || strcmp(p + n, "/") == 0);
}

void ct_iam_admin_handle(ct_iam *iam, const ct_http_req *req, ct_http_resp *resp)
{
    const char *p = req->path, *m = req->method;
    if (!ct_iam_is_root(iam, &req->principal)) {
        fail(resp, 403, "AccessDenied", "only the root user may manage users, roles and policies");
        return;
    }
    if (is_collection(p, ROLES)) {
        if (strcmp(m, "POST") == 0)
            role_create(iam, req, resp);
        else if (strcmp(m, "GET") == 0)
            role_list(iam, resp);
        else
            fail(resp, 405, "MethodNotAllowed", "method not allowed on this resource");
        return;
    }
    if (strncmp(p, ROLES "/", strlen(ROLES) + 1) == 0) {
        role_item(iam, req, p + strlen(ROLES) + 1, resp);
        return;
    }
    if (is_collection(p, USERS)) {
        if (strcmp(m, "POST") == 0)
            user_create(iam, req, resp);
        else if (strcmp(m, "GET") == 0)
            user_list(iam, resp);
        else
            fail(resp, 405, "MethodNotAllowed", "method not allowed on this resource");
    } else if (strncmp(p, USERS "/", strlen(USERS) + 1) == 0) {
        user_item(iam, req, p + strlen(USERS) + 1, resp);
    } else if (strcmp(p, POLICIES "/validate") == 0 && strcmp(m, "POST") == 0) {
        validate(req, resp);
    } else {
        fail(resp, 404, "NotFound", "no such admin resource");
    }
}
