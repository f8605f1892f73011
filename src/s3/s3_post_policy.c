/* s3_post_policy.c: the POST policy document (S3's "Creating a POST
 * policy"): {"expiration": ISO 8601, "conditions": [...]} where a condition
 * is {"field": "value"} (exact match), ["eq", "$field", "value"],
 * ["starts-with", "$field", "prefix"] or ["content-length-range", min, max].
 * "$bucket" is the request's bucket. Every form field except the exempt
 * ones must be named by some condition. */
#include "s3/s3_post.h"

#include <jansson.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static int exempt(const char *name)
{
    return strcasecmp(name, "x-amz-signature") == 0 || strcasecmp(name, "file") == 0 ||
           strcasecmp(name, "policy") == 0 || strncasecmp(name, "x-ignore-", 9) == 0;
}

/* "2026-11-24T12:00:00Z" or with fractional seconds; -1 when malformed. */
static int64_t parse_iso8601(const char *s)
{
    struct tm tm = {0};
    char tail[16] = "";
    int n = sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%15s", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, tail);
    if (n != 7 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    const char *t = tail;
    if (*t == '.') {
        t++;
        while (*t >= '0' && *t <= '9')
            t++;
    }
    if (strcmp(t, "Z") != 0)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

/* The form's value for "$name" ("" when the field is absent, as S3 does). */
static const char *value_of(const s3_post_input *in, const char *name)
{
    if (strcasecmp(name, "bucket") == 0)
        return in->bucket;
    for (int i = 0; i < in->nfields; i++)
        if (strcasecmp(in->fields[i].name, name) == 0)
            return in->fields[i].value;
    return "";
}

/* Marks the fields a condition names. */
static void cover(const s3_post_input *in, const char *name, unsigned char *covered)
{
    for (int i = 0; i < in->nfields; i++)
        if (strcasecmp(in->fields[i].name, name) == 0)
            covered[i] = 1;
}

/* Content-Type may be a comma-separated list: each must start with prefix. */
static int starts_with(const char *field, const char *v, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strcasecmp(field, "Content-Type") != 0)
        return strncmp(v, prefix, n) == 0;
    for (;;) {
        while (*v == ' ')
            v++;
        if (strncmp(v, prefix, n) != 0)
            return 0;
        const char *comma = strchr(v, ',');
        if (!comma)
            return 1;
        v = comma + 1;
    }
}

static int length_of(json_t *j, int64_t *out)
{
    if (json_is_integer(j))
        *out = json_integer_value(j);
    else if (json_is_string(j) && json_string_length(j) > 0 && json_string_length(j) < 20 &&
             strspn(json_string_value(j), "0123456789") == json_string_length(j))
        *out = strtoll(json_string_value(j), NULL, 10);
    else
        return -1;
    return *out < 0 ? -1 : 0;
}

static int condition_failed(json_t *c, char *msg, size_t msglen)
{
    char *text = c ? json_dumps(c, JSON_ENCODE_ANY) : NULL;
    snprintf(msg, msglen, "Invalid according to Policy: Policy Condition failed: %s",
             text ? text : "?");
    free(text);
    return -1;
}

static int check_array(json_t *c, const s3_post_input *in, s3_post_limits *lim,
                       unsigned char *covered, char *msg, size_t msglen)
{
    const char *op = json_string_value(json_array_get(c, 0));
    if (json_array_size(c) != 3 || !op)
        goto bad;
    if (strcasecmp(op, "content-length-range") == 0) {
        if (length_of(json_array_get(c, 1), &lim->min_len) ||
            length_of(json_array_get(c, 2), &lim->max_len) || lim->min_len > lim->max_len)
            goto bad;
        return 0;
    }
    const char *field = json_string_value(json_array_get(c, 1));
    const char *want = json_string_value(json_array_get(c, 2));
    if (!field || field[0] != '$' || !want)
        goto bad;
    const char *have = value_of(in, field + 1);
    cover(in, field + 1, covered);
    if (strcasecmp(op, "eq") == 0)
        return strcmp(have, want) == 0 ? 0 : condition_failed(c, msg, msglen);
    if (strcasecmp(op, "starts-with") == 0)
        return starts_with(field + 1, have, want) ? 0 : condition_failed(c, msg, msglen);
bad:
    snprintf(msg, msglen, "Invalid Policy: Invalid Condition.");
    return -1;
}

static int check_object(json_t *c, const s3_post_input *in, unsigned char *covered, char *msg,
                        size_t msglen)
{
    const char *name;
    json_t *v;
    if (json_object_size(c) != 1)
        goto bad;
    json_object_foreach(c, name, v) {
        if (!json_is_string(v))
            goto bad;
        cover(in, name, covered);
        if (strcmp(value_of(in, name), json_string_value(v)) != 0) {
            /* reported in the array form, as S3 does: ["eq", "$name", "value"] */
            char dollar[200];
            snprintf(dollar, sizeof dollar, "$%s", name);
            json_t *eq = json_pack("[s, s, O]", "eq", dollar, v);
            condition_failed(eq, msg, msglen);
            json_decref(eq);
            return -1;
        }
    }
    return 0;
bad:
    snprintf(msg, msglen, "Invalid Policy: Invalid Simple-Condition: "
                          "value must be a string.");
    return -1;
}

static int check_doc(json_t *doc, const s3_post_input *in, s3_post_limits *lim,
                     unsigned char *covered, char *msg, size_t msglen)
{
    const char *exp = json_string_value(json_object_get(doc, "expiration"));
    json_t *conds = json_object_get(doc, "conditions");
    if (!exp) {
        snprintf(msg, msglen, "Invalid Policy: Policy missing expiration.");
        return -1;
    }
    int64_t t = parse_iso8601(exp);
    if (t < 0) {
        snprintf(msg, msglen, "Invalid Policy: Invalid 'expiration' value: '%.40s'", exp);
        return -1;
    }
    if (t <= in->now_s) {
        snprintf(msg, msglen, "Invalid according to Policy: Policy expired.");
        return -1;
    }
    if (!json_is_array(conds)) {
        snprintf(msg, msglen, "Invalid Policy: Policy missing conditions.");
        return -1;
    }
    size_t i;
    json_t *c;
    json_array_foreach(conds, i, c) {
        int rc = json_is_array(c)    ? check_array(c, in, lim, covered, msg, msglen)
                 : json_is_object(c) ? check_object(c, in, covered, msg, msglen)
                                     : (snprintf(msg, msglen, "Invalid Policy: Invalid "
                                                              "Condition."), -1);
        if (rc)
            return -1;
    }
    for (int k = 0; k < in->nfields; k++)
        if (!covered[k] && !exempt(in->fields[k].name)) {
            snprintf(msg, msglen, "Invalid according to Policy: Extra input fields: %.100s",
                     in->fields[k].name);
            return -1;
        }
    return 0;
}

int s3_post_policy_check(const char *policy_json, size_t len, const s3_post_input *in,
                         s3_post_limits *limits, char *msg, size_t msglen)
{
    limits->min_len = 0;
    limits->max_len = -1;
    json_error_t jerr;
    json_t *doc = json_loadb(policy_json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc)) {
        json_decref(doc);
        snprintf(msg, msglen, "Invalid Policy: Invalid JSON.");
        return -1;
    }
    unsigned char *covered = calloc((size_t)in->nfields + 1, 1);
    int rc = -1;
    if (!covered)
        snprintf(msg, msglen, "out of memory");
    else
        rc = check_doc(doc, in, limits, covered, msg, msglen);
    free(covered);
    json_decref(doc);
    return rc;
}
