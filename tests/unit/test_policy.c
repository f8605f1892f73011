/* test_policy: policy validation and evaluation (iam_policy.c) and the
 * authorization decision (iam_users.c) against a scratch meta. */
#include "ct_test.h"
#include "iam/iam.h"
#include "meta/meta.h"

#include <stdlib.h>
#include <unistd.h>

#define ACCT "123456789012"
#define DIST_ARN "arn:aws:cloudfront::" ACCT ":distribution/EDFDVBD6EXAMPLE"

static ct_principal user(const char *name)
{
    ct_principal p;
    memset(&p, 0, sizeof p);
    snprintf(p.account_id, sizeof p.account_id, ACCT);
    snprintf(p.arn, sizeof p.arn, "arn:aws:iam::" ACCT ":user/%s", name);
    return p;
}

static ct_principal anon(void)
{
    ct_principal p;
    memset(&p, 0, sizeof p);
    p.anonymous = 1;
    return p;
}

static ct_principal edge(void)
{
    ct_principal p;
    memset(&p, 0, sizeof p);
    snprintf(p.service_principal, sizeof p.service_principal, "cloudfront.amazonaws.com");
    return p;
}

static ct_iam_request req(const char *action, const char *resource)
{
    ct_iam_request r = {.action = action, .resource = resource, .source_ip = "10.1.2.3"};
    return r;
}

static ct_policy_effect id_eval(const char *doc, const char *action, const char *resource)
{
    ct_principal p = user("alice");
    ct_iam_request r = req(action, resource);
    return ct_iam_policy_eval(doc, CT_POLICY_IDENTITY, &p, &r);
}

static void test_wildcards(void)
{
    CHECK(ct_iam_wildcard("*", "", 0));
    CHECK(ct_iam_wildcard("s3:Get*", "s3:GetObject", 0));
    CHECK(!ct_iam_wildcard("s3:Get*", "s3:PutObject", 0));
    CHECK(ct_iam_wildcard("s3:get*", "s3:GetObject", 1));
    CHECK(!ct_iam_wildcard("s3:get*", "s3:GetObject", 0));
    CHECK(ct_iam_wildcard("arn:aws:s3:::b/a?c/*", "arn:aws:s3:::b/abc/d/e", 0));
    CHECK(!ct_iam_wildcard("arn:aws:s3:::b/a?c/*", "arn:aws:s3:::b/ac/d", 0));
    CHECK(ct_iam_wildcard("*a*b*c", "xxaxxbxxbxc", 0));
    CHECK(!ct_iam_wildcard("*a*b*c", "xxaxxbxxbx", 0));
}

static void test_identity_allow_deny(void)
{
    const char *allow = "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\","
                        "\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::one/*\"}}";
    CHECK(id_eval(allow, "s3:GetObject", "arn:aws:s3:::one/k") == CT_POLICY_ALLOW);
    CHECK(id_eval(allow, "S3:getobject", "arn:aws:s3:::one/k") == CT_POLICY_ALLOW);
    CHECK(id_eval(allow, "s3:GetObject", "arn:aws:s3:::two/k") == CT_POLICY_NONE);
    CHECK(id_eval(allow, "s3:PutObject", "arn:aws:s3:::one/k") == CT_POLICY_NONE);
    const char *both = "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"s3:*\",\"Resource\":\"*\"},"
                       "{\"Effect\":\"Deny\",\"Action\":[\"s3:Delete*\"],"
                       "\"Resource\":\"arn:aws:s3:::one/*\"}]}";
    CHECK(id_eval(both, "s3:DeleteObject", "arn:aws:s3:::one/k") == CT_POLICY_DENY);
    CHECK(id_eval(both, "s3:DeleteObject", "arn:aws:s3:::two/k") == CT_POLICY_ALLOW);
    const char *notaction = "{\"Statement\":{\"Effect\":\"Allow\",\"NotAction\":\"s3:Delete*\","
                            "\"NotResource\":\"arn:aws:s3:::secret/*\"}}";
    CHECK(id_eval(notaction, "s3:GetObject", "arn:aws:s3:::one/k") == CT_POLICY_ALLOW);
    CHECK(id_eval(notaction, "s3:DeleteObject", "arn:aws:s3:::one/k") == CT_POLICY_NONE);
    CHECK(id_eval(notaction, "s3:GetObject", "arn:aws:s3:::secret/k") == CT_POLICY_NONE);
    CHECK(id_eval("not json", "s3:GetObject", "arn:aws:s3:::one/k") == CT_POLICY_NONE);
}

static ct_policy_effect cond_eval(const char *cond, const ct_iam_request *r)
{
    char doc[1024];
    snprintf(doc, sizeof doc, "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"s3:*\","
             "\"Resource\":\"*\",\"Condition\":%s}}", cond);
    char msg[256];
    CHECK(ct_iam_policy_validate(doc, CT_POLICY_IDENTITY, NULL, msg, sizeof msg) == CT_OK);
    ct_principal p = user("alice");
    return ct_iam_policy_eval(doc, CT_POLICY_IDENTITY, &p, r);
}

static void test_conditions(void)
{
    ct_iam_request r = req("s3:GetObject", "arn:aws:s3:::b/k");
    r.source_arn = DIST_ARN;
    CHECK(cond_eval("{\"StringEquals\":{\"aws:SourceArn\":\"" DIST_ARN "\"}}", &r) ==
          CT_POLICY_ALLOW);
    CHECK(cond_eval("{\"StringEquals\":{\"aws:SourceArn\":[\"x\",\"y\"]}}", &r) == CT_POLICY_NONE);
    CHECK(cond_eval("{\"StringNotEquals\":{\"aws:SourceArn\":\"x\"}}", &r) == CT_POLICY_ALLOW);
    CHECK(cond_eval("{\"StringLike\":{\"aws:SourceArn\":\"arn:aws:cloudfront::*:distribution/*\"}}",
                    &r) == CT_POLICY_ALLOW);
    CHECK(cond_eval("{\"StringNotLike\":{\"aws:SourceArn\":\"*EXAMPLE\"}}", &r) == CT_POLICY_NONE);
    CHECK(cond_eval("{\"ArnLike\":{\"AWS:SourceArn\":\"arn:aws:cloudfront::" ACCT
                    ":distribution/*\"}}", &r) == CT_POLICY_ALLOW);
    CHECK(cond_eval("{\"ArnEquals\":{\"aws:SourceArn\":\"arn:aws:cloudfront::1:distribution/E\"}}",
                    &r) == CT_POLICY_NONE);
    CHECK(cond_eval("{\"StringEqualsIgnoreCase\":{\"aws:username\":\"ALICE\"}}", &r) ==
          CT_POLICY_ALLOW);
    CHECK(cond_eval("{\"IpAddress\":{\"aws:SourceIp\":\"10.0.0.0/8\"}}", &r) == CT_POLICY_ALLOW);
    CHECK(cond_eval("{\"IpAddress\":{\"aws:SourceIp\":[\"192.168.0.0/16\",\"10.1.2.3\"]}}", &r) ==
          CT_POLICY_ALLOW);
    CHECK(cond_eval("{\"NotIpAddress\":{\"aws:SourceIp\":\"10.0.0.0/8\"}}", &r) == CT_POLICY_NONE);
    CHECK(cond_eval("{\"IpAddress\":{\"aws:SourceIp\":\"2001:db8::/32\"}}", &r) == CT_POLICY_NONE);
    r.source_ip = "::ffff:10.9.9.9";
    CHECK(cond_eval("{\"IpAddress\":{\"aws:SourceIp\":\"10.0.0.0/8\"}}", &r) == CT_POLICY_ALLOW);
    r.source_ip = "2001:db8::1";
    CHECK(cond_eval("{\"IpAddress\":{\"aws:SourceIp\":\"2001:db8::/32\"}}", &r) == CT_POLICY_ALLOW);
    CHECK(cond_eval("{\"Bool\":{\"aws:SecureTransport\":\"true\"}}", &r) == CT_POLICY_NONE);
    CHECK(cond_eval("{\"Bool\":{\"aws:SecureTransport\":false}}", &r) == CT_POLICY_ALLOW);
    r.secure = 1;
    CHECK(cond_eval("{\"Bool\":{\"aws:SecureTransport\":\"true\"}}", &r) == CT_POLICY_ALLOW);
    /* missing keys: positive fails, negated holds, IfExists holds, Null */
    r.source_arn = NULL;
    CHECK(cond_eval("{\"StringEquals\":{\"aws:SourceArn\":\"x\"}}", &r) == CT_POLICY_NONE);
    CHECK(cond_eval("{\"StringNotEquals\":{\"aws:SourceArn\":\"x\"}}", &r) == CT_POLICY_ALLOW);
    CHECK(cond_eval("{\"StringEqualsIfExists\":{\"aws:SourceArn\":\"x\"}}", &r) ==
          CT_POLICY_ALLOW);
    CHECK(cond_eval("{\"Null\":{\"aws:SourceArn\":\"true\"}}", &r) == CT_POLICY_ALLOW);
    CHECK(cond_eval("{\"Null\":{\"aws:SourceArn\":\"false\"}}", &r) == CT_POLICY_NONE);
    /* several operators and keys are ANDed */
    CHECK(cond_eval("{\"Bool\":{\"aws:SecureTransport\":\"true\"},"
                    "\"IpAddress\":{\"aws:SourceIp\":\"10.0.0.0/8\"}}", &r) == CT_POLICY_NONE);
}

static const char oac_policy[] =
    "{\"Version\":\"2012-10-17\",\"Statement\":{\"Sid\":\"AllowCloudFrontServicePrincipal\","
    "\"Effect\":\"Allow\",\"Principal\":{\"Service\":\"cloudfront.amazonaws.com\"},"
    "\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::media/*\","
    "\"Condition\":{\"StringEquals\":{\"AWS:SourceArn\":\"" DIST_ARN "\"}}}}";

static void test_resource_policies(void)
{
    char msg[256];
    CHECK(ct_iam_policy_validate(oac_policy, CT_POLICY_RESOURCE, "media", msg, sizeof msg) ==
          CT_OK);
    ct_principal e = edge(), a = anon(), u = user("bob");
    ct_iam_request r = req("s3:GetObject", "arn:aws:s3:::media/v.mp4");
    CHECK(ct_iam_policy_eval(oac_policy, CT_POLICY_RESOURCE, &e, &r) == CT_POLICY_NONE);
    r.source_arn = DIST_ARN;
    CHECK(ct_iam_policy_eval(oac_policy, CT_POLICY_RESOURCE, &e, &r) == CT_POLICY_ALLOW);
    CHECK(ct_iam_policy_eval(oac_policy, CT_POLICY_RESOURCE, &a, &r) == CT_POLICY_NONE);
    CHECK(ct_iam_policy_eval(oac_policy, CT_POLICY_RESOURCE, &u, &r) == CT_POLICY_NONE);
    r.source_arn = "arn:aws:cloudfront::" ACCT ":distribution/EOTHER";
    CHECK(ct_iam_policy_eval(oac_policy, CT_POLICY_RESOURCE, &e, &r) == CT_POLICY_NONE);
    CHECK(!ct_iam_policy_is_public(oac_policy));

    const char *pub = "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\","
                      "\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::media/*\"}]}";
    r = req("s3:GetObject", "arn:aws:s3:::media/v.mp4");
    CHECK(ct_iam_policy_eval(pub, CT_POLICY_RESOURCE, &a, &r) == CT_POLICY_ALLOW);
    CHECK(ct_iam_policy_eval(pub, CT_POLICY_RESOURCE, &u, &r) == CT_POLICY_ALLOW);
    CHECK(ct_iam_policy_is_public(pub));
    const char *aws_star = "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"*\"]},"
                           "\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::media/*\"}}";
    CHECK(ct_iam_policy_eval(aws_star, CT_POLICY_RESOURCE, &a, &r) == CT_POLICY_ALLOW);
    CHECK(ct_iam_policy_is_public(aws_star));
    const char *acct = "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"" ACCT "\"},"
                       "\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::media/*\"}}";
    CHECK(ct_iam_policy_eval(acct, CT_POLICY_RESOURCE, &u, &r) == CT_POLICY_ALLOW);
    CHECK(ct_iam_policy_eval(acct, CT_POLICY_RESOURCE, &a, &r) == CT_POLICY_NONE);
    CHECK(ct_iam_policy_eval(acct, CT_POLICY_RESOURCE, &e, &r) == CT_POLICY_NONE);
    CHECK(!ct_iam_policy_is_public(acct));
    const char *one = "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":"
                      "\"arn:aws:iam::" ACCT ":user/bob\"},\"Action\":\"s3:*\","
                      "\"Resource\":\"arn:aws:s3:::media/*\"}}";
    ct_principal carol = user("carol");
    CHECK(ct_iam_policy_eval(one, CT_POLICY_RESOURCE, &u, &r) == CT_POLICY_ALLOW);
    CHECK(ct_iam_policy_eval(one, CT_POLICY_RESOURCE, &carol, &r) == CT_POLICY_NONE);
}

static int invalid(const char *doc, ct_policy_kind kind, const char *bucket)
{
    char msg[256];
    return ct_iam_policy_validate(doc, kind, bucket, msg, sizeof msg) != CT_OK && msg[0];
}

static void test_validation(void)
{
    const ct_policy_kind R = CT_POLICY_RESOURCE, I = CT_POLICY_IDENTITY;
    CHECK(invalid("", R, "b"));
    CHECK(invalid("[1]", R, "b"));
    CHECK(invalid("{\"Statement\":[]}", I, NULL));
    CHECK(invalid("{\"Version\":\"2020-01-01\",\"Statement\":{\"Effect\":\"Allow\","
                  "\"Action\":\"s3:*\",\"Resource\":\"*\"}}", I, NULL));
    CHECK(invalid("{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\","
                  "\"Action\":\"s3:*\",\"Resource\":\"*\"}}", I, NULL));
    CHECK(invalid("{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"s3:*\","
                  "\"Resource\":\"arn:aws:s3:::b/*\"}}", R, "b"));
    CHECK(invalid("{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:*\","
                  "\"NotAction\":\"s3:Get*\",\"Resource\":\"arn:aws:s3:::b/*\"}}", R, "b"));
    CHECK(invalid("{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"GetObject\","
                  "\"Resource\":\"arn:aws:s3:::b/*\"}}", R, "b"));
    CHECK(invalid("{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:*\","
                  "\"Resource\":\"arn:aws:s3:::c/*\"}}", R, "b"));
    CHECK(invalid("{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"bob\"},"
                  "\"Action\":\"s3:*\",\"Resource\":\"arn:aws:s3:::b/*\"}}", R, "b"));
    CHECK(invalid("{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"s3:*\",\"Resource\":\"*\","
                  "\"Condition\":{\"IpAddress\":{\"aws:SourceIp\":\"10.0.0.0/33\"}}}}", I, NULL));
    CHECK(invalid("{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"s3:*\",\"Resource\":\"*\","
                  "\"Condition\":{\"Bool\":{\"aws:SecureTransport\":\"yes\"}}}}", I, NULL));
    CHECK(invalid("{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"s3:*\",\"Resource\":\"*\","
                  "\"Condition\":{\"NumericLessThan\":{\"s3:max-keys\":\"10\"}}}}", I, NULL));
    CHECK(invalid("{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"s3:*\",\"Resource\":\"*\","
                  "\"Extra\":1}}", I, NULL));
    CHECK(invalid("{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"s3:*\",\"Action\":\"s3:*\","
                  "\"Resource\":\"*\"}}", I, NULL));
    char *big = malloc(CT_POLICY_MAX + 16);
    memset(big, ' ', CT_POLICY_MAX + 8);
    big[0] = '{';
    big[CT_POLICY_MAX + 8] = '}';
    big[CT_POLICY_MAX + 9] = '\0';
    char msg[128];
    CHECK(ct_iam_policy_validate(big, I, NULL, msg, sizeof msg) == CT_ERR_TOO_LARGE);
    free(big);
    CHECK(!invalid("{\"Statement\":{\"Effect\":\"Deny\",\"Principal\":{\"AWS\":[\"*\"]},"
                   "\"Action\":\"*\",\"Resource\":[\"arn:aws:s3:::b\",\"arn:aws:s3:::b/*\"]}}",
                   R, "b"));
}

/* The decision with meta: root, users, identity + bucket policies. */
static void test_authorize(void)
{
    char path[] = "/tmp/ct_policy_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    ct_meta *m = NULL;
    ct_iam *iam = NULL;
    CHECK(ct_meta_open_sqlite(path, &m) == CT_OK);
    ct_iam_config cfg = {ACCT, "AKIAROOT", "rootsecret", NULL};
    CHECK(ct_iam_open(&cfg, m, &iam) == CT_OK);
    char ak[21], sk[41], got[64];
    ct_iam_new_key(ak, sk);
    CHECK(strlen(ak) == 20 && strncmp(ak, "AKIA", 4) == 0 && strlen(sk) == 40);
    CHECK(ct_meta_iam_user_create(m, "alice", "AIDATEST", ak, sk) == CT_OK);
    CHECK(ct_meta_iam_user_create(m, "alice", "AIDATEST2", "AKIAOTHER", sk) == CT_ERR_EXISTS);
    ct_principal p;
    memset(&p, 0, sizeof p);
    CHECK(ct_iam_secret(iam, ak, got, sizeof got, &p) == CT_OK);
    CHECK_STR(got, sk);
    CHECK_STR(p.arn, "arn:aws:iam::" ACCT ":user/alice");
    ct_principal root;
    memset(&root, 0, sizeof root);
    CHECK(ct_iam_secret(iam, "AKIAROOT", got, sizeof got, &root) == CT_OK);
    CHECK(ct_iam_secret(iam, "AKIANOPE", got, sizeof got, &root) == CT_ERR_NOT_FOUND);

    /* Sealed at rest: meta holds ct1:<hex>, the secret comes back only with
     * the same master key, for the same access key (rows can't be swapped). */
    unsigned char mk[32], other[32];
    memset(mk, 7, sizeof mk);
    memset(other, 8, sizeof other);
    ct_iam_config sc = {ACCT, "AKIAROOT", "rootsecret", mk}, oc = {ACCT, "AKIAROOT", "rootsecret", other};
    ct_iam *sealing = NULL, *wrong = NULL;
    CHECK(ct_iam_open(&sc, m, &sealing) == CT_OK && ct_iam_open(&oc, m, &wrong) == CT_OK);
    char bk[21], bs[41], sealed[CT_IAM_SEALED_MAX], stored[CT_IAM_SEALED_MAX], u[72];
    ct_iam_new_key(bk, bs);
    CHECK(ct_iam_seal_secret(sealing, bk, bs, sealed) == CT_OK);
    CHECK(strncmp(sealed, "ct1:", 4) == 0 && strstr(sealed, bs) == NULL);
    CHECK(ct_meta_iam_user_create(m, "bob", "AIDABOB", bk, sealed) == CT_OK);
    CHECK(ct_meta_iam_key_get(m, bk, u, stored, sizeof stored) == CT_OK);
    CHECK_STR(stored, sealed);
    memset(&p, 0, sizeof p);
    CHECK(ct_iam_secret(sealing, bk, got, sizeof got, &p) == CT_OK);
    CHECK_STR(got, bs);
    CHECK(ct_iam_secret(wrong, bk, got, sizeof got, &p) == CT_ERR_NOT_FOUND);
    CHECK(ct_iam_secret(iam, bk, got, sizeof got, &p) == CT_ERR_NOT_FOUND); /* no key */
    CHECK(ct_meta_iam_user_create(m, "carol", "AIDACAROL", "AKIASWAPPED", sealed) == CT_OK);
    CHECK(ct_iam_secret(sealing, "AKIASWAPPED", got, sizeof got, &p) == CT_ERR_NOT_FOUND);
    CHECK(ct_iam_secret(sealing, ak, got, sizeof got, &p) == CT_OK); /* legacy plaintext */
    CHECK_STR(got, sk);
    ct_iam_close(sealing);
    ct_iam_close(wrong);

    ct_iam_request r = req("s3:GetObject", "arn:aws:s3:::b/k");
    const char *deny_all = "{\"Statement\":{\"Effect\":\"Deny\",\"Principal\":\"*\","
                           "\"Action\":\"*\",\"Resource\":\"arn:aws:s3:::b/*\"}}";
    CHECK(ct_iam_authorize(iam, &root, &r) == CT_OK);
    CHECK(ct_iam_authorize(iam, &p, &r) == CT_ERR_DENIED);
    CHECK(ct_meta_iam_policy_put(m, "alice", "p", "{\"Statement\":{\"Effect\":\"Allow\","
                                 "\"Action\":\"s3:Get*\",\"Resource\":\"*\"}}") == CT_OK);
    CHECK(ct_meta_iam_policy_put(m, "nobody", "p", "{}") == CT_ERR_NOT_FOUND);
    CHECK(ct_iam_authorize(iam, &p, &r) == CT_OK);
    r.bucket_policy_json = deny_all;
    CHECK(ct_iam_authorize(iam, &p, &r) == CT_ERR_DENIED);
    CHECK(ct_iam_authorize(iam, &root, &r) == CT_OK); /* root is never locked out */
    r.bucket_policy_json = NULL;
    ct_principal a = anon();
    CHECK(ct_iam_authorize(iam, &a, &r) == CT_ERR_DENIED);
    r.bucket_policy_json = "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\","
                           "\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::b/*\"}}";
    CHECK(ct_iam_authorize(iam, &a, &r) == CT_OK);
    CHECK(ct_meta_iam_user_delete(m, "alice") == CT_OK);
    CHECK(ct_iam_secret(iam, ak, got, sizeof got, &p) == CT_ERR_NOT_FOUND);
    CHECK(ct_meta_iam_user_delete(m, "alice") == CT_ERR_NOT_FOUND);
    ct_iam_close(iam);
    ct_meta_close(m);
    unlink(path);
    char aux[64];
    snprintf(aux, sizeof aux, "%s-wal", path);
    unlink(aux);
    snprintf(aux, sizeof aux, "%s-shm", path);
    unlink(aux);
}

/* Roles (iam_roles.c): ARN parsing, seeding once, and the decision. */
static void test_roles(void)
{
    char path[] = "/tmp/ct_roles_XXXXXX", name[72], why[160];
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    ct_meta *m = NULL;
    CHECK(ct_meta_open_sqlite(path, &m) == CT_OK);
    CHECK(ct_iam_role_ref("arn:aws:iam::" ACCT ":role/media/Mine", name) && !strcmp(name, "Mine"));
    CHECK(ct_iam_role_ref("arn:aws:iam::account_id:role/R", name) && !strcmp(name, "R"));
    CHECK(!ct_iam_role_ref("r", name) && !ct_iam_role_ref("arn:aws:iam::1:user/u", name));
    CHECK(!ct_iam_role_ref("arn:aws:iam::1:role/", name));
    const char *all = "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"s3:*\",\"Resource\":\"*\"}}";
    CHECK(ct_meta_iam_role_seed(m, "Def", "AROA1", "Full", all) == CT_OK);
    CHECK(ct_meta_iam_role_policy_delete(m, "Def", "Full") == CT_OK);
    CHECK(ct_meta_iam_role_seed(m, "Def", "AROA1", "Full", all) == CT_OK); /* edits stay */
    ct_iam_request r = req("s3:GetObject", "arn:aws:s3:::b/in/k");
    CHECK(ct_iam_role_authorize(m, ACCT, "Def", &r, why, sizeof why) == CT_ERR_DENIED);
    CHECK(ct_iam_role_authorize(m, ACCT, "Nope", &r, why, sizeof why) == CT_ERR_NOT_FOUND);
    CHECK(strstr(why, "does not exist") != NULL);
    CHECK(ct_meta_iam_role_create(m, "Def", "AROA2") == CT_ERR_EXISTS);
    CHECK(ct_meta_iam_role_policy_put(m, "Def", "In", "{\"Statement\":{\"Effect\":\"Allow\","
                                      "\"Action\":\"s3:GetObject\",\"Resource\":"
                                      "\"arn:aws:s3:::b/in/*\"}}") == CT_OK);
    CHECK(ct_meta_iam_role_policy_put(m, "Nope", "In", "{}") == CT_ERR_NOT_FOUND);
    CHECK(ct_iam_role_authorize(m, ACCT, "Def", &r, why, sizeof why) == CT_OK);
    r.resource = "arn:aws:s3:::b/out/k";
    CHECK(ct_iam_role_authorize(m, ACCT, "Def", &r, why, sizeof why) == CT_ERR_DENIED);
    /* the bucket policy sees the role's ARN in this account */
    r.bucket_policy_json = "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":"
                           "\"arn:aws:iam::" ACCT ":role/Def\"},\"Action\":\"s3:*\","
                           "\"Resource\":\"arn:aws:s3:::b/*\"}}";
    CHECK(ct_iam_role_authorize(m, ACCT, "Def", &r, why, sizeof why) == CT_OK);
    r.bucket_policy_json = "{\"Statement\":{\"Effect\":\"Deny\",\"Principal\":{\"AWS\":"
                           "\"arn:aws:iam::" ACCT ":role/Def\"},\"Action\":\"s3:*\","
                           "\"Resource\":\"arn:aws:s3:::b/*\"}}";
    r.resource = "arn:aws:s3:::b/in/k";
    CHECK(ct_iam_role_authorize(m, ACCT, "Def", &r, why, sizeof why) == CT_ERR_DENIED);
    CHECK(strstr(why, "bucket policy") != NULL);
    CHECK(ct_meta_iam_role_delete(m, "Def") == CT_OK);
    CHECK(ct_meta_iam_role_delete(m, "Def") == CT_ERR_NOT_FOUND);
    ct_meta_close(m);
    unlink(path);
    char aux[64];
    snprintf(aux, sizeof aux, "%s-wal", path);
    unlink(aux);
    snprintf(aux, sizeof aux, "%s-shm", path);
    unlink(aux);
}

int main(void)
{
    test_wildcards();
    test_identity_allow_deny();
    test_conditions();
    test_resource_policies();
    test_validation();
    test_authorize();
    test_roles();
    CT_TEST_END();
}
