/* iam_roles.c: IAM roles, the identities MediaConvert jobs run as.
 *
 * DESIGN: a role is a name plus inline identity policies in meta (no trust
 * policy: any job of the account may run as any role of the account; the
 * job's creator needs iam:PassRole on it, checked by mc through the
 * server's authorize hook). A job's reads and writes are decided as a
 * user's requests are (iam_users.c): an explicit Deny in the bucket policy
 * or a role policy denies; else an Allow in either allows; else denied. The
 * principal a bucket policy sees is the role's ARN in this account.
 * Like iam_users.c nothing is cached, so policy edits apply to the next
 * read or write of a running job. This needs only meta (no ct_iam), so
 * `cattube worker` processes decide without the server's root keys. */
#include "iam/iam.h"
#include "meta/meta.h"

#include <stdio.h>
#include <string.h>

int ct_iam_role_ref(const char *arn, char name[72])
{
    static const char pfx[] = "arn:aws:iam::";
    if (strncmp(arn, pfx, sizeof pfx - 1) != 0)
        return 0;
    const char *acct = arn + sizeof pfx - 1, *colon = strchr(acct, ':');
    if (!colon || colon == acct || colon - acct > 32 || strncmp(colon + 1, "role/", 5) != 0)
        return 0;
    const char *last = strrchr(colon + 6, '/'); /* role/[path/]NAME */
    const char *n = last ? last + 1 : colon + 6;
    if (!ct_iam_user_name_valid(n))
        return 0;
    snprintf(name, 72, "%s", n);
    return 1;
}

typedef struct {
    const ct_principal *p;
    const ct_iam_request *r;
    ct_policy_effect effect;
    char policy[136]; /* the role policy that decided, for the message */
} role_eval;

static ct_err eval_role_policy(void *ctx, const char *name, const char *doc)
{
    role_eval *st = ctx;
    ct_policy_effect e = ct_iam_policy_eval(doc, CT_POLICY_IDENTITY, st->p, st->r);
    if (e > st->effect) {
        st->effect = e;
        snprintf(st->policy, sizeof st->policy, "%s", name);
    }
    return CT_OK;
}

ct_err ct_iam_role_authorize(struct ct_meta *meta, const char *account_id, const char *name,
                             const ct_iam_request *r, char *why, size_t whylen)
{
    ct_meta_iam_role role;
    ct_principal p = {0};
    snprintf(p.account_id, sizeof p.account_id, "%s", account_id);
    snprintf(p.arn, sizeof p.arn, "arn:aws:iam::%s:role/%s", account_id, name);
    ct_err e = ct_meta_iam_role_get(meta, name, &role);
    if (e) {
        snprintf(why, whylen, "%s", e == CT_ERR_NOT_FOUND ? "the role does not exist"
                                                          : "the role could not be read");
        return e == CT_ERR_NOT_FOUND ? CT_ERR_NOT_FOUND : CT_ERR_DENIED;
    }
    role_eval st = {&p, r, CT_POLICY_NONE, ""};
    if (r->bucket_policy_json &&
        ct_iam_policy_eval(r->bucket_policy_json, CT_POLICY_RESOURCE, &p, r) == CT_POLICY_DENY) {
        snprintf(why, whylen, "explicitly denied by the bucket policy");
        return CT_ERR_DENIED;
    }
    if (ct_meta_iam_role_policy_list(meta, name, eval_role_policy, &st) != CT_OK) {
        snprintf(why, whylen, "the role's policies could not be read");
        return CT_ERR_DENIED; /* fail closed */
    }
    if (st.effect == CT_POLICY_DENY) {
        snprintf(why, whylen, "explicitly denied by the role's policy \"%s\"", st.policy);
        return CT_ERR_DENIED;
    }
    if (st.effect == CT_POLICY_ALLOW ||
        (r->bucket_policy_json &&
         ct_iam_policy_eval(r->bucket_policy_json, CT_POLICY_RESOURCE, &p, r) == CT_POLICY_ALLOW))
        return CT_OK;
    snprintf(why, whylen, "no policy of the role or the bucket allows it");
    return CT_ERR_DENIED;
}
