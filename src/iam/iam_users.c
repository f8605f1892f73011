/* iam_users.c: identities (the configured root user, IAM users from meta)
 * and the authorization decision.
 *
 * DESIGN: no cache: a user's key and policies are read from meta for each
 * request (point queries on one SQLite connection), so changes made through
 * the admin API take effect at once. Decision (AWS's, same account):
 * root -> always allowed (even when a bucket policy denies: CatTube's root
 * cannot be locked out); otherwise any explicit Deny in the bucket policy or
 * the user's identity policies -> denied; else any Allow -> allowed; else
 * denied. Anonymous callers and service principals only have the bucket
 * policy.
 * Users' secrets are sealed at rest with the master key (AES-256-GCM, the
 * access key as associated data so rows cannot be swapped): a copy of the
 * database alone does not give away credentials. */
#include "iam/iam.h"
#include "meta/meta.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ct_iam {
    char account_id[16];
    char root_ak[128];
    char root_sk[128];
    unsigned char master[32];
    int has_master;
    struct ct_meta *meta;
};

ct_err ct_iam_open(const ct_iam_config *cfg, struct ct_meta *meta, ct_iam **out)
{
    ct_iam *iam = calloc(1, sizeof *iam);
    if (!iam)
        return CT_ERR_NOMEM;
    snprintf(iam->account_id, sizeof iam->account_id, "%s", cfg->account_id);
    snprintf(iam->root_ak, sizeof iam->root_ak, "%s", cfg->root_access_key);
    snprintf(iam->root_sk, sizeof iam->root_sk, "%s", cfg->root_secret_key);
    if (cfg->master_key) {
        memcpy(iam->master, cfg->master_key, sizeof iam->master);
        iam->has_master = 1;
    }
    iam->meta = meta;
    *out = iam;
    return CT_OK;
}

void ct_iam_close(ct_iam *iam)
{
    if (iam)
        explicit_bzero(iam, sizeof *iam);
    free(iam);
}

struct ct_meta *ct_iam_meta(ct_iam *iam) { return iam->meta; }

const char *ct_iam_account_id(const ct_iam *iam) { return iam->account_id; }

int ct_iam_is_root(const ct_iam *iam, const ct_principal *p)
{
    char root[64];
    snprintf(root, sizeof root, "arn:aws:iam::%s:root", iam->account_id);
    return !p->anonymous && !p->service_principal[0] && strcmp(p->arn, root) == 0;
}

void ct_iam_new_key(char access_key[21], char secret[41])
{
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): prefix; ct_random_alnum ends it */
    memcpy(access_key, "AKIA", 4);
    ct_random_alnum(access_key + 4, 16, 1);
    ct_random_alnum(secret, 40, 0);
}

ct_err ct_iam_seal_secret(const ct_iam *iam, const char *access_key, const char *secret,
                          char out[CT_IAM_SEALED_MAX])
{
    if (!iam->has_master)
        return ct_snprintf(out, CT_IAM_SEALED_MAX, "%s", secret);
    return ct_seal_text(iam->master, access_key, secret, out, CT_IAM_SEALED_MAX);
}

/* The stored form -> the secret; plaintext rows from before sealing are
 * accepted as they are. */
static ct_err unseal(const ct_iam *iam, const char *access_key, const char *stored,
                     char *secret, size_t n)
{
    if (!ct_is_sealed(stored))
        return ct_snprintf(secret, n, "%s", stored);
    if (!iam->has_master || ct_unseal_text(iam->master, access_key, stored, secret, n)) {
        ct_warn("iam: the secret of %s does not open with this master key", access_key);
        return CT_ERR_AUTH;
    }
    return CT_OK;
}

int ct_iam_user_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && !strchr("+=,.@_-", c))
            return 0;
    }
    return 1;
}

/* dst = a b c, truncated to cap - 1 bytes; no printf on the per-request
 * path (a linked library makes every printf in the process slow). */
static void join3(char *dst, size_t cap, const char *a, const char *b, const char *c)
{
    size_t len = 0;
    const char *parts[] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        size_t k = strnlen(parts[i], cap - 1 - len);
        memcpy(dst + len, parts[i], k);
        len += k;
    }
    dst[len] = '\0';
}

ct_err ct_iam_secret(ct_iam *iam, const char *access_key, char *secret, size_t n,
                     ct_principal *p)
{
    if (ct_consttime_cmp(access_key, iam->root_ak) == 0) {
        join3(secret, n, iam->root_sk, "", "");
        memcpy(p->account_id, iam->account_id, sizeof p->account_id);
        join3(p->arn, sizeof p->arn, "arn:aws:iam::", iam->account_id, ":root");
        return CT_OK;
    }
    if (!iam->meta || strlen(access_key) > 64)
        return CT_ERR_NOT_FOUND;
    char user[72], stored[CT_IAM_SEALED_MAX];
    ct_err e = ct_meta_iam_key_get(iam->meta, access_key, user, stored, sizeof stored);
    if (!e)
        e = unseal(iam, access_key, stored, secret, n);
    explicit_bzero(stored, sizeof stored);
    if (e)
        return CT_ERR_NOT_FOUND;
    memcpy(p->account_id, iam->account_id, sizeof p->account_id);
    snprintf(p->arn, sizeof p->arn, "arn:aws:iam::%s:user/%s", iam->account_id, user);
    return CT_OK;
}

typedef struct {
    const ct_principal *p;
    const ct_iam_request *r;
    ct_policy_effect effect;
} eval_state;

static ct_err eval_identity(void *ctx, const char *name, const char *doc)
{
    eval_state *st = ctx;
    ct_policy_effect e = ct_iam_policy_eval(doc, CT_POLICY_IDENTITY, st->p, st->r);
    if (e > st->effect)
        st->effect = e;
    return CT_OK;
}

/* The user name of an IAM user principal of this account, or NULL. */
static const char *user_of(const ct_iam *iam, const ct_principal *p)
{
    char prefix[64];
    int n = snprintf(prefix, sizeof prefix, "arn:aws:iam::%s:user/", iam->account_id);
    if (p->anonymous || p->service_principal[0] || strncmp(p->arn, prefix, (size_t)n) != 0)
        return NULL;
    return p->arn + n;
}

ct_err ct_iam_authorize(ct_iam *iam, const ct_principal *p, const ct_iam_request *r)
{
    if (ct_iam_is_root(iam, p))
        return CT_OK;
    eval_state st = {p, r, CT_POLICY_NONE};
    if (r->bucket_policy_json)
        st.effect = ct_iam_policy_eval(r->bucket_policy_json, CT_POLICY_RESOURCE, p, r);
    const char *user = user_of(iam, p);
    if (st.effect != CT_POLICY_DENY && user && iam->meta &&
        ct_meta_iam_policy_list(iam->meta, user, eval_identity, &st) != CT_OK)
        return CT_ERR_DENIED; /* fail closed */
    return st.effect == CT_POLICY_ALLOW ? CT_OK : CT_ERR_DENIED;
}
