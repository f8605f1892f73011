/* iam_users.c: identities. For now only the root user exists. */
#include "iam/iam.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ct_iam {
    char account_id[16];
    char root_ak[128];
    char root_sk[128];
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
    iam->meta = meta;
    *out = iam;
    return CT_OK;
}

void ct_iam_close(ct_iam *iam)
{
    if (iam)
        explicit_bzero(iam->root_sk, sizeof iam->root_sk);
    free(iam);
}

ct_err ct_iam_secret(ct_iam *iam, const char *access_key, char *secret, size_t n,
                     ct_principal *p)
{
    if (ct_consttime_cmp(access_key, iam->root_ak) != 0)
        return CT_ERR_NOT_FOUND;
    snprintf(secret, n, "%s", iam->root_sk);
    memcpy(p->account_id, iam->account_id, sizeof p->account_id);
    snprintf(p->arn, sizeof p->arn, "arn:aws:iam::%s:root", iam->account_id);
    return CT_OK;
}

ct_err ct_iam_authorize(ct_iam *iam, const ct_principal *p, const ct_iam_request *r)
{
    /* Root may do anything; nobody else exists yet. */
    return p->anonymous ? CT_ERR_DENIED : CT_OK;
}
