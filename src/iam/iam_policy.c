/* iam_policy.c: AWS JSON policy documents — validation and evaluation.
 *
 * DESIGN: documents are small (<= 20 KiB) and evaluated straight from the
 * jansson tree on every request; nothing is cached. Validation is strict
 * (unknown fields, operators and malformed values are refused, as AWS's
 * MalformedPolicy does) so evaluation can be lenient: anything it does not
 * understand simply does not match. Supported: Principal/NotPrincipal ("*",
 * {"AWS": "*" | account id | root ARN | user ARN}, {"Service": name}),
 * Action/NotAction and Resource/NotResource with '*'/'?' wildcards,
 * Condition operators String(Not)Equals(IgnoreCase), String(Not)Like,
 * Arn(Not)Equals/Arn(Not)Like, (Not)IpAddress, Bool, Null, each with an
 * optional IfExists suffix. Condition keys: aws:SourceIp,
 * aws:SecureTransport, aws:SourceArn, aws:PrincipalArn, aws:PrincipalAccount,
 * aws:username, aws:PrincipalServiceName. */
#include "iam/iam.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- wildcards ---- */

static int ch_eq(char a, char b, int nocase)
{
    return nocase ? tolower((unsigned char)a) == tolower((unsigned char)b) : a == b;
}

/* Greedy with one backtrack point: linear in practice, O(n*m) worst case. */
int ct_iam_wildcard(const char *pat, const char *s, int nocase)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*pat == '*') {
            star = pat++;
            resume = s;
        } else if (*pat && (*pat == '?' || ch_eq(*pat, *s, nocase))) {
            pat++;
            s++;
        } else if (star) {
            pat = star + 1;
            s = ++resume;
        } else {
            return 0;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}

/* ---- IP addresses ---- */

/* 4 or 16 bytes; IPv4-mapped IPv6 becomes IPv4. 0 on failure. */
static int parse_ip(const char *s, size_t n, unsigned char out[16])
{
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET, buf, out) == 1)
        return 4;
    if (inet_pton(AF_INET6, buf, out) != 1)
        return 0;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(out, mapped, 12) == 0) {
        memmove(out, out + 12, 4);
        return 4;
    }
    return 16;
}

/* "10.0.0.0/8", "2001:db8::/32" or a bare address. -1 when malformed. */
static int cidr_match(const char *cidr, const char *ip)
{
    unsigned char net[16], addr[16];
    const char *slash = strchr(cidr, '/');
    int fam = parse_ip(cidr, slash ? (size_t)(slash - cidr) : strlen(cidr), net);
    if (!fam)
        return -1;
    long bits = fam * 8;
    if (slash) {
        char *end;
        bits = strtol(slash + 1, &end, 10);
        if (!slash[1] || *end || bits < 0 || bits > fam * 8)
            return -1;
    }
    if (!ip || parse_ip(ip, strlen(ip), addr) != fam)
        return 0;
    for (long i = 0; i < bits; i++) {
        unsigned char m = (unsigned char)(0x80 >> (i % 8));
        if ((net[i / 8] & m) != (addr[i / 8] & m))
            return 0;
    }
    return 1;
}

/* ---- condition operators ---- */

typedef enum { OP_STR_EQ, OP_STR_EQ_NC, OP_STR_LIKE, OP_ARN, OP_IP, OP_BOOL, OP_NULL } op_kind;

static const struct {
    const char *name;
    op_kind kind;
    int neg;
} ops[] = {
    {"StringEquals", OP_STR_EQ, 0},        {"StringNotEquals", OP_STR_EQ, 1},
    {"StringEqualsIgnoreCase", OP_STR_EQ_NC, 0}, {"StringNotEqualsIgnoreCase", OP_STR_EQ_NC, 1},
    {"StringLike", OP_STR_LIKE, 0},        {"StringNotLike", OP_STR_LIKE, 1},
    {"ArnEquals", OP_ARN, 0},              {"ArnLike", OP_ARN, 0},
    {"ArnNotEquals", OP_ARN, 1},           {"ArnNotLike", OP_ARN, 1},
    {"IpAddress", OP_IP, 0},               {"NotIpAddress", OP_IP, 1},
    {"Bool", OP_BOOL, 0},                  {"Null", OP_NULL, 0},
};

/* Index into ops, or -1. *if_exists for the "...IfExists" form. */
static int find_op(const char *name, int *if_exists)
{
    size_t n = strlen(name);
    *if_exists = n > 8 && strcmp(name + n - 8, "IfExists") == 0;
    if (*if_exists)
        n -= 8;
    for (size_t i = 0; i < CT_ARRAY_LEN(ops); i++)
        if (strlen(ops[i].name) == n && strncasecmp(ops[i].name, name, n) == 0)
            return ops[i].kind == OP_NULL && *if_exists ? -1 : (int)i;
    return -1;
}

/* A condition value as text: strings, booleans and integers. NULL otherwise. */
static const char *value_text(json_t *v, char tmp[32])
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    if (json_is_integer(v)) {
        snprintf(tmp, 32, "%lld", (long long)json_integer_value(v));
        return tmp;
    }
    return NULL;
}

/* Request context for condition keys. */
typedef struct {
    const ct_principal *p;
    const ct_iam_request *r;
    char username[72];
} eval_ctx;

static const char *ctx_value(const eval_ctx *c, const char *key)
{
    const ct_principal *p = c->p;
    int named = !p->anonymous && p->arn[0];
    if (strcasecmp(key, "aws:SourceIp") == 0)
        return c->r->source_ip;
    if (strcasecmp(key, "aws:SecureTransport") == 0)
        return c->r->secure ? "true" : "false";
    if (strcasecmp(key, "aws:SourceArn") == 0)
        return c->r->source_arn;
    if (strcasecmp(key, "aws:PrincipalArn") == 0)
        return named ? p->arn : NULL;
    if (strcasecmp(key, "aws:PrincipalAccount") == 0)
        return named && p->account_id[0] ? p->account_id : NULL;
    if (strcasecmp(key, "aws:username") == 0)
        return c->username[0] ? c->username : NULL;
    if (strcasecmp(key, "aws:PrincipalServiceName") == 0)
        return p->service_principal[0] ? p->service_principal : NULL;
    return NULL;
}

static int value_matches(op_kind k, const char *want, const char *have)
{
    switch (k) {
    case OP_STR_EQ: return strcmp(want, have) == 0;
    case OP_STR_EQ_NC: return strcasecmp(want, have) == 0;
    case OP_STR_LIKE:
    case OP_ARN: return ct_iam_wildcard(want, have, 0);
    case OP_IP: return cidr_match(want, have) == 1;
    case OP_BOOL: return strcasecmp(want, have) == 0;
    case OP_NULL: return 0;
    }
    return 0;
}

/* One operator, one key, its value(s). Values are ORed; negated operators
 * hold when none matches; a missing key fails positive operators and
 * satisfies negated ones (and every ...IfExists). */
static int cond_key_holds(int op, int if_exists, const char *key, json_t *vals, const eval_ctx *c)
{
    const char *have = ctx_value(c, key);
    size_t n = json_is_array(vals) ? json_array_size(vals) : 1;
    int any = 0;
    for (size_t i = 0; i < n && !any; i++) {
        char tmp[32];
        const char *want = value_text(json_is_array(vals) ? json_array_get(vals, i) : vals, tmp);
        if (!want)
            continue;
        if (ops[op].kind == OP_NULL)
            any = (strcasecmp(want, "true") == 0) == (have == NULL);
        else if (have)
            any = value_matches(ops[op].kind, want, have);
    }
    if (ops[op].kind == OP_NULL)
        return any;
    if (!have)
        return if_exists || ops[op].neg;
    return ops[op].neg ? !any : any;
}

static int conditions_hold(json_t *cond, const eval_ctx *c)
{
    const char *opname, *key;
    json_t *block, *vals;
    json_object_foreach(cond, opname, block) {
        int if_exists, op = find_op(opname, &if_exists);
        if (op < 0 || !json_is_object(block))
            return 0;
        json_object_foreach(block, key, vals) {
            if (!cond_key_holds(op, if_exists, key, vals, c))
                return 0;
        }
    }
    return 1;
}

/* ---- principals, actions, resources ---- */

static int is_account_id(const char *s)
{
    return strlen(s) == 12 && strspn(s, "0123456789") == 12;
}

static int aws_principal_matches(const char *v, const ct_principal *p)
{
    if (strcmp(v, "*") == 0)
        return 1;
    if (p->anonymous || p->service_principal[0] || !p->arn[0])
        return 0;
    if (is_account_id(v))
        return strcmp(v, p->account_id) == 0;
    char root[64];
    snprintf(root, sizeof root, "arn:aws:iam::%s:root", p->account_id);
    return strcmp(v, root) == 0 || strcmp(v, p->arn) == 0;
}

static int principal_value_matches(const char *type, const char *v, const ct_principal *p)
{
    if (strcmp(type, "AWS") == 0)
        return aws_principal_matches(v, p);
    if (strcmp(type, "Service") == 0)
        return p->service_principal[0] && strcasecmp(v, p->service_principal) == 0;
    return 0; /* CanonicalUser, Federated: no such identities here */
}

static int principal_matches(json_t *pr, const ct_principal *p)
{
    if (json_is_string(pr))
        return strcmp(json_string_value(pr), "*") == 0;
    const char *type;
    json_t *v;
    json_object_foreach(pr, type, v) {
        size_t n = json_is_array(v) ? json_array_size(v) : 1;
        for (size_t i = 0; i < n; i++) {
            const char *s = json_string_value(json_is_array(v) ? json_array_get(v, i) : v);
            if (s && principal_value_matches(type, s, p))
                return 1;
        }
    }
    return 0;
}

/* String or array of strings; any matching. */
static int list_matches(json_t *v, const char *s, int nocase)
{
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    for (size_t i = 0; i < n; i++) {
        const char *pat = json_string_value(json_is_array(v) ? json_array_get(v, i) : v);
        if (pat && ct_iam_wildcard(pat, s, nocase))
            return 1;
    }
    return 0;
}

/* Positive/negative pair (Action/NotAction, ...): whether the statement covers s. */
static int pair_matches(json_t *st, const char *yes, const char *no, const char *s, int nocase)
{
    json_t *v = json_object_get(st, yes);
    if (v)
        return list_matches(v, s, nocase);
    v = json_object_get(st, no);
    return v ? !list_matches(v, s, nocase) : 0;
}

static int statement_applies(json_t *st, ct_policy_kind kind, const eval_ctx *c)
{
    if (kind == CT_POLICY_RESOURCE) {
        json_t *pr = json_object_get(st, "Principal");
        json_t *np = json_object_get(st, "NotPrincipal");
        if (pr ? !principal_matches(pr, c->p) : (!np || principal_matches(np, c->p)))
            return 0;
    }
    if (!pair_matches(st, "Action", "NotAction", c->r->action, 1) ||
        !pair_matches(st, "Resource", "NotResource", c->r->resource, 0))
        return 0;
    json_t *cond = json_object_get(st, "Condition");
    return !cond || conditions_hold(cond, c);
}

static json_t *load(const char *json)
{
    if (!json || strlen(json) > CT_POLICY_MAX)
        return NULL;
    json_t *doc = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
    if (doc && !json_is_object(doc)) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

ct_policy_effect ct_iam_policy_eval(const char *json, ct_policy_kind kind, const ct_principal *p,
                                    const ct_iam_request *r)
{
    json_t *doc = load(json);
    if (!doc)
        return CT_POLICY_NONE;
    eval_ctx c = {.p = p, .r = r};
    const char *u = strstr(p->arn, ":user/");
    if (!p->anonymous && u)
        snprintf(c.username, sizeof c.username, "%s", u + 6);
    json_t *sts = json_object_get(doc, "Statement");
    size_t n = json_is_array(sts) ? json_array_size(sts) : 1;
    ct_policy_effect out = CT_POLICY_NONE;
    for (size_t i = 0; i < n && out != CT_POLICY_DENY; i++) {
        json_t *st = json_is_array(sts) ? json_array_get(sts, i) : sts;
        if (!json_is_object(st) || !statement_applies(st, kind, &c))
            continue;
        const char *eff = json_string_value(json_object_get(st, "Effect"));
        if (eff && strcmp(eff, "Deny") == 0)
            out = CT_POLICY_DENY;
        else if (eff && strcmp(eff, "Allow") == 0)
            out = CT_POLICY_ALLOW;
    }
    json_decref(doc);
    return out;
}

/* ---- public? ---- */

static int list_has_exact(json_t *v, const char *s)
{
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    for (size_t i = 0; i < n; i++) {
        const char *x = json_string_value(json_is_array(v) ? json_array_get(v, i) : v);
        if (x && strcmp(x, s) == 0)
            return 1;
    }
    return 0;
}

static int grants_everyone(json_t *st)
{
    if (json_object_get(st, "NotPrincipal"))
        return 1;
    json_t *pr = json_object_get(st, "Principal");
    if (json_is_string(pr))
        return strcmp(json_string_value(pr), "*") == 0;
    json_t *aws = json_object_get(pr, "AWS");
    return aws && list_has_exact(aws, "*");
}

static int only_transport_conditions(json_t *cond)
{
    const char *op, *key;
    json_t *block, *v;
    json_object_foreach(cond, op, block) {
        json_object_foreach(block, key, v) {
            if (strcasecmp(key, "aws:SecureTransport") != 0)
                return 0;
        }
    }
    return 1;
}

int ct_iam_policy_is_public(const char *json)
{
    json_t *doc = load(json);
    if (!doc)
        return 0;
    json_t *sts = json_object_get(doc, "Statement");
    size_t n = json_is_array(sts) ? json_array_size(sts) : 1;
    int pub = 0;
    for (size_t i = 0; i < n && !pub; i++) {
        json_t *st = json_is_array(sts) ? json_array_get(sts, i) : sts;
        const char *eff = json_string_value(json_object_get(st, "Effect"));
        json_t *cond = json_object_get(st, "Condition");
        pub = eff && strcmp(eff, "Allow") == 0 && grants_everyone(st) &&
              (!cond || only_transport_conditions(cond));
    }
    json_decref(doc);
    return pub;
}

/* ---- validation (MalformedPolicy) ---- */

typedef struct {
    ct_policy_kind kind;
    const char *bucket;
    char *msg;
    size_t msglen;
} vctx;

static int bad(vctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(vctx *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->msg, v->msglen, fmt, ap);
    va_end(ap);
    return -1;
}

typedef int (*item_check)(vctx *v, const char *field, const char *s);

/* A string or a non-empty array of strings, each passing check. */
static int check_list(vctx *v, const char *field, json_t *val, item_check check)
{
    size_t n = json_is_array(val) ? json_array_size(val) : 1;
    if (json_is_array(val) && n == 0)
        return bad(v, "%s must not be empty", field);
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_is_array(val) ? json_array_get(val, i) : val);
        if (!s)
            return bad(v, "%s must be a string or an array of strings", field);
        if (check && check(v, field, s))
            return -1;
    }
    return 0;
}

static int check_action(vctx *v, const char *field, const char *s)
{
    const char *colon = strchr(s, ':');
    if (strcmp(s, "*") == 0)
        return 0;
    if (!colon || colon == s || !colon[1])
        return bad(v, "Policy has an invalid action: %s", s);
    for (const char *c = s; c < colon; c++)
        if (!isalnum((unsigned char)*c) && *c != '-')
            return bad(v, "Policy has an invalid action: %s", s);
    return 0;
}

static int check_resource(vctx *v, const char *field, const char *s)
{
    if (strcmp(s, "*") != 0 && strncmp(s, "arn:", 4) != 0)
        return bad(v, "Policy has invalid resource: %s", s);
    if (v->kind != CT_POLICY_RESOURCE || !v->bucket)
        return 0;
    char arn[320];
    snprintf(arn, sizeof arn, "arn:aws:s3:::%s", v->bucket);
    size_t n = strlen(arn);
    if (ct_iam_wildcard(s, arn, 0) || (strncmp(s, arn, n) == 0 && s[n] == '/'))
        return 0;
    return bad(v, "Policy has invalid resource: %s", s);
}

static int check_aws_principal(vctx *v, const char *field, const char *s)
{
    if (strcmp(s, "*") == 0 || is_account_id(s) || strncmp(s, "arn:aws:iam::", 13) == 0)
        return 0;
    return bad(v, "Invalid principal in policy: %s", s);
}

static int check_principal(vctx *v, json_t *pr)
{
    if (json_is_string(pr))
        return strcmp(json_string_value(pr), "*") == 0 ? 0
                                                        : bad(v, "Invalid principal in policy");
    if (!json_is_object(pr) || json_object_size(pr) == 0)
        return bad(v, "Invalid principal in policy");
    const char *type;
    json_t *val;
    json_object_foreach(pr, type, val) {
        int aws = strcmp(type, "AWS") == 0;
        if (!aws && strcmp(type, "Service") != 0 && strcmp(type, "CanonicalUser") != 0 &&
            strcmp(type, "Federated") != 0)
            return bad(v, "Invalid principal in policy: %s", type);
        if (check_list(v, "Principal", val, aws ? check_aws_principal : NULL))
            return -1;
    }
    return 0;
}

static int check_cond_value(vctx *v, int op, const char *key, json_t *val)
{
    char tmp[32];
    const char *s = value_text(val, tmp);
    if (!s)
        return bad(v, "Invalid value for condition key %s", key);
    if (ops[op].kind == OP_IP && cidr_match(s, NULL) < 0)
        return bad(v, "Invalid IP address in condition: %s", s);
    if ((ops[op].kind == OP_BOOL || ops[op].kind == OP_NULL) && strcasecmp(s, "true") != 0 &&
        strcasecmp(s, "false") != 0)
        return bad(v, "Invalid boolean in condition: %s", s);
    return 0;
}

static int check_condition(vctx *v, json_t *cond)
{
    if (!json_is_object(cond))
        return bad(v, "Condition must be an object");
    const char *opname, *key;
    json_t *block, *vals;
    json_object_foreach(cond, opname, block) {
        int if_exists, op = find_op(opname, &if_exists);
        if (op < 0)
            return bad(v, "Invalid Condition type: %s", opname);
        if (!json_is_object(block) || json_object_size(block) == 0)
            return bad(v, "Condition %s must map keys to values", opname);
        json_object_foreach(block, key, vals) {
            size_t n = json_is_array(vals) ? json_array_size(vals) : 1;
            if (n == 0)
                return bad(v, "Empty value for condition key %s", key);
            for (size_t i = 0; i < n; i++)
                if (check_cond_value(v, op, key, json_is_array(vals) ? json_array_get(vals, i)
                                                                     : vals))
                    return -1;
        }
    }
    return 0;
}

/* Exactly one of yes/no present, checked as a list. */
static int check_pair(vctx *v, json_t *st, const char *yes, const char *no, item_check check)
{
    json_t *a = json_object_get(st, yes), *b = json_object_get(st, no);
    if (a && b)
        return bad(v, "Statement cannot have both %s and its negation", yes);
    if (!a && !b)
        return bad(v, "Missing required field %s", yes);
    return check_list(v, a ? yes : no, a ? a : b, check);
}

static int check_statement(vctx *v, json_t *st)
{
    static const char *const fields[] = {"Sid",    "Effect",    "Principal", "NotPrincipal",
                                         "Action", "NotAction", "Resource",  "NotResource",
                                         "Condition"};
    if (!json_is_object(st))
        return bad(v, "Statement must be an object");
    const char *k;
    json_t *val;
    json_object_foreach(st, k, val) {
        size_t i = 0;
        while (i < CT_ARRAY_LEN(fields) && strcmp(fields[i], k) != 0)
            i++;
        if (i == CT_ARRAY_LEN(fields))
            return bad(v, "Unknown field %s", k);
    }
    json_t *sid = json_object_get(st, "Sid");
    if (sid && !json_is_string(sid))
        return bad(v, "Sid must be a string");
    const char *eff = json_string_value(json_object_get(st, "Effect"));
    if (!eff || (strcmp(eff, "Allow") != 0 && strcmp(eff, "Deny") != 0))
        return bad(v, "Invalid effect: %s", eff ? eff : "(missing)");
    json_t *pr = json_object_get(st, "Principal"), *np = json_object_get(st, "NotPrincipal");
    if (v->kind == CT_POLICY_IDENTITY && (pr || np))
        return bad(v, "Policy document should not specify a principal.");
    if (v->kind == CT_POLICY_RESOURCE && (!pr == !np))
        return bad(v, "Statement must have exactly one of Principal and NotPrincipal");
    if ((pr || np) && check_principal(v, pr ? pr : np))
        return -1;
    if (check_pair(v, st, "Action", "NotAction", check_action) ||
        check_pair(v, st, "Resource", "NotResource", check_resource))
        return -1;
    json_t *cond = json_object_get(st, "Condition");
    return cond ? check_condition(v, cond) : 0;
}

static int check_document(vctx *v, json_t *doc)
{
    const char *k;
    json_t *val;
    json_object_foreach(doc, k, val) {
        if (strcmp(k, "Version") != 0 && strcmp(k, "Id") != 0 && strcmp(k, "Statement") != 0)
            return bad(v, "Unknown field %s", k);
    }
    const char *ver = json_string_value(json_object_get(doc, "Version"));
    if (json_object_get(doc, "Version") &&
        (!ver || (strcmp(ver, "2012-10-17") != 0 && strcmp(ver, "2008-10-17") != 0)))
        return bad(v, "The policy must contain a valid version string");
    json_t *sts = json_object_get(doc, "Statement");
    if (!sts || (json_is_array(sts) && json_array_size(sts) == 0))
        return bad(v, "Missing required field Statement");
    size_t n = json_is_array(sts) ? json_array_size(sts) : 1;
    for (size_t i = 0; i < n; i++)
        if (check_statement(v, json_is_array(sts) ? json_array_get(sts, i) : sts))
            return -1;
    return 0;
}

ct_err ct_iam_policy_validate(const char *json, ct_policy_kind kind, const char *bucket,
                              char *msg, size_t msglen)
{
    vctx v = {kind, bucket, msg, msglen};
    if (msglen)
        msg[0] = '\0';
    if (!json)
        return bad(&v, "Policies must be valid JSON"), CT_ERR_INVALID;
    if (strlen(json) > CT_POLICY_MAX)
        return bad(&v, "Policies must not exceed 20480 bytes"), CT_ERR_TOO_LARGE;
    json_error_t je;
    json_t *doc = json_loads(json, JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        return bad(&v, "Policies must be valid JSON: %s", je.text), CT_ERR_INVALID;
    ct_err e = CT_OK;
    if (!json_is_object(doc))
        e = (bad(&v, "Policies must be JSON objects"), CT_ERR_INVALID);
    else if (check_document(&v, doc))
        e = CT_ERR_INVALID;
    json_decref(doc);
    return e;
}
