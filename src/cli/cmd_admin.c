/* cmd_admin: `cattube admin user|policy ...`, a client of the admin API
 * (/cattube/admin/users, /cattube/admin/policies) signed with SigV4 (service
 * "cattube") through libcurl's CURLOPT_AWS_SIGV4, as cmd_distribution does.
 * Prints the server's JSON, pretty, on stdout; on an error prints the
 * server's message on stderr and exits 1. */
#include "cli/cli.h"
#include "core/core.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ct_cmd_admin(int argc, char **argv);

static void usage(FILE *f)
{
    fputs("usage:\n"
          "  cattube admin user create NAME        prints the access key and secret (once)\n"
          "  cattube admin user list\n"
          "  cattube admin user get NAME\n"
          "  cattube admin user delete NAME\n"
          "  cattube admin user attach-policy NAME --policy-document file://p.json|JSON\n"
          "                                   [--policy-name NAME]   (inline; default \"inline\")\n"
          "  cattube admin user detach-policy NAME [--policy-name NAME]\n"
          "  cattube admin user list-policies NAME\n"
          "  cattube admin policy validate --policy-document file://p.json|JSON [--bucket B]\n"
          "                                   (--bucket: validate as that bucket's policy)\n"
          "common options:\n"
          "  --endpoint URL      the CatTube API endpoint (default $CATTUBE_ENDPOINT)\n"
          "  --region REGION     SigV4 signing region (default us-east-1)\n"
          "  --no-verify-ssl     do not verify the endpoint's TLS certificate\n"
          "credentials (root only): CATTUBE_ROOT_ACCESS_KEY / CATTUBE_ROOT_SECRET_KEY, else\n"
          "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY\n",
          f);
}

typedef struct {
    const char *endpoint, *region, *document, *policy_name, *bucket, *name;
    int no_verify;
} admin_opts;

static size_t collect(char *p, size_t size, size_t n, void *ctx)
{
    return ct_buf_append(ctx, p, size * n) ? 0 : size * n;
}

static const char *env2(const char *a, const char *b)
{
    const char *v = getenv(a);
    if (v && *v)
        return v;
    v = getenv(b);
    return v && *v ? v : NULL;
}

static int report(long status, const ct_buf *body)
{
    json_t *j = body->len ? json_loadb(body->data, body->len, 0, NULL) : NULL;
    int rc = 0;
    if (status >= 200 && status < 300) {
        char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        if (text)
            printf("%s\n", text);
        else if (body->len)
            printf("%s\n", body->data);
        free(text);
    } else {
        const char *msg = json_string_value(json_object_get(j, "message"));
        fprintf(stderr, "cattube: %s (HTTP %ld)\n",
                msg ? msg : (body->len ? body->data : "request failed"), status);
        rc = 1;
    }
    json_decref(j);
    return rc;
}

static void set_common(CURL *c, const admin_opts *o)
{
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (o->no_verify) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

/* One signed request to path (already URL-safe); body may be NULL. */
static int call(const admin_opts *o, const char *method, const char *path, const char *body)
{
    const char *ak = env2("CATTUBE_ROOT_ACCESS_KEY", "AWS_ACCESS_KEY_ID");
    const char *sk = env2("CATTUBE_ROOT_SECRET_KEY", "AWS_SECRET_ACCESS_KEY");
    if (!ak || !sk) {
        fputs("cattube: no credentials: set CATTUBE_ROOT_ACCESS_KEY and "
              "CATTUBE_ROOT_SECRET_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)\n",
              stderr);
        return 1;
    }
    size_t elen = strlen(o->endpoint);
    while (elen && o->endpoint[elen - 1] == '/')
        elen--;
    ct_buf url = CT_BUF_INIT, userpwd = CT_BUF_INIT, sigv4 = CT_BUF_INIT, resp = CT_BUF_INIT;
    ct_buf_printf(&url, "%.*s%s", (int)elen, o->endpoint, path);
    ct_buf_printf(&userpwd, "%s:%s", ak, sk);
    ct_buf_printf(&sigv4, "aws:amz:%s:cattube", o->region);
    resp.max = (size_t)8 << 20;
    int rc = 1;
    struct curl_slist *hdrs = NULL;
    CURL *c = curl_easy_init();
    if (!c || !url.data || !userpwd.data || !sigv4.data) {
        fputs("cattube: out of memory\n", stderr);
        goto cleanup;
    }
    curl_easy_setopt(c, CURLOPT_URL, url.data);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4.data);
    curl_easy_setopt(c, CURLOPT_USERPWD, userpwd.data);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    set_common(c, o);
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    if (body) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        fprintf(stderr, "cattube: %s: %s\n", url.data, curl_easy_strerror(cc));
        goto cleanup;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    rc = report(status, &resp);
cleanup:
    curl_slist_free_all(hdrs);
    if (c)
        curl_easy_cleanup(c);
    ct_buf_free(&url);
    ct_buf_free(&userpwd);
    ct_buf_free(&sigv4);
    ct_buf_free(&resp);
    return rc;
}

/* "file://path" -> the file's contents, else the argument itself. Heap. */
static char *load_document(const char *arg)
{
    if (strncmp(arg, "file://", 7) != 0)
        return strdup(arg);
    char *text = NULL;
    size_t len;
    ct_err e = ct_read_file(arg + 7, CT_POLICY_MAX, &text, &len);
    if (e) {
        fprintf(stderr, "cattube: %s: %s\n", arg + 7, ct_err_str(e));
        return NULL;
    }
    return text;
}

/* Parses options after the subcommand words; the one positional is NAME. */
static int parse_opts(int argc, char **argv, admin_opts *o)
{
    static const struct {
        const char *name;
        size_t off;
    } opts[] = {
        {"--endpoint", offsetof(admin_opts, endpoint)},
        {"--region", offsetof(admin_opts, region)},
        {"--policy-document", offsetof(admin_opts, document)},
        {"--policy-name", offsetof(admin_opts, policy_name)},
        {"--bucket", offsetof(admin_opts, bucket)},
    };
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--no-verify-ssl") == 0) {
            o->no_verify = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (o->name) {
                fprintf(stderr, "cattube: unexpected argument '%s'\n", a);
                return -1;
            }
            o->name = a;
            continue;
        }
        size_t k = 0;
        for (; k < CT_ARRAY_LEN(opts); k++) {
            size_t nl = strlen(opts[k].name);
            if (strncmp(a, opts[k].name, nl) != 0 || (a[nl] && a[nl] != '='))
                continue;
            const char *v = a[nl] == '=' ? a + nl + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v) {
                fprintf(stderr, "cattube: %s needs a value\n", opts[k].name);
                return -1;
            }
            *(const char **)((char *)o + opts[k].off) = v;
            break;
        }
        if (k == CT_ARRAY_LEN(opts)) {
            fprintf(stderr, "cattube: unknown option '%s'\n", a);
            return -1;
        }
    }
    return 0;
}

static int user_cmd(const char *sub, admin_opts *o)
{
    char path[256];
    int needs_name = strcmp(sub, "list") != 0;
    if (needs_name != (o->name != NULL) || (o->name && !ct_iam_user_name_valid(o->name))) {
        fprintf(stderr, needs_name ? "cattube: user %s needs a valid user NAME\n"
                                   : "cattube: user %s takes no NAME\n", sub);
        return 2;
    }
    const char *pname = o->policy_name ? o->policy_name : "inline";
    if (!ct_iam_user_name_valid(pname)) {
        fputs("cattube: --policy-name must match [A-Za-z0-9+=,.@_-]{1,64}\n", stderr);
        return 2;
    }
    if (strcmp(sub, "list") == 0)
        return call(o, "GET", "/cattube/admin/users", NULL);
    if (strcmp(sub, "create") == 0) {
        json_t *j = json_pack("{s:s}", "userName", o->name);
        char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        int rc = body ? call(o, "POST", "/cattube/admin/users", body) : 1;
        free(body);
        return rc;
    }
    snprintf(path, sizeof path, "/cattube/admin/users/%s", o->name);
    if (strcmp(sub, "get") == 0 || strcmp(sub, "delete") == 0)
        return call(o, strcmp(sub, "get") == 0 ? "GET" : "DELETE", path, NULL);
    if (strcmp(sub, "list-policies") == 0)
        return call(o, "GET", strcat(path, "/policies"), NULL);
    if (strcmp(sub, "detach-policy") != 0 && strcmp(sub, "attach-policy") != 0) {
        fprintf(stderr, "cattube: unknown user command '%s'\n", sub);
        return 2;
    }
    snprintf(path + strlen(path), sizeof path - strlen(path), "/policies/%s", pname);
    if (strcmp(sub, "detach-policy") == 0)
        return call(o, "DELETE", path, NULL);
    if (!o->document) {
        fputs("cattube: attach-policy needs --policy-document\n", stderr);
        return 2;
    }
    char *doc = load_document(o->document);
    int rc = doc ? call(o, "PUT", path, doc) : 1;
    free(doc);
    return rc;
}

/* Local validation: no server needed. */
static int policy_cmd(const char *sub, admin_opts *o)
{
    if (strcmp(sub, "validate") != 0 || !o->document) {
        fputs("cattube: usage: admin policy validate --policy-document file://p.json "
              "[--bucket B]\n", stderr);
        return 2;
    }
    char *doc = load_document(o->document), msg[256];
    if (!doc)
        return 1;
    ct_err e = ct_iam_policy_validate(doc, o->bucket ? CT_POLICY_RESOURCE : CT_POLICY_IDENTITY,
                                      o->bucket, msg, sizeof msg);
    free(doc);
    if (e) {
        fprintf(stderr, "cattube: MalformedPolicy: %s\n", msg);
        return 1;
    }
    puts("{\n  \"valid\": true\n}");
    return 0;
}

int ct_cmd_admin(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (argc < 3 || (strcmp(argv[1], "user") != 0 && strcmp(argv[1], "policy") != 0)) {
        usage(stderr);
        return 2;
    }
    admin_opts o = {.endpoint = getenv("CATTUBE_ENDPOINT"), .region = "us-east-1"};
    if (parse_opts(argc - 3, argv + 3, &o))
        return 2;
    if (strcmp(argv[1], "policy") == 0)
        return policy_cmd(argv[2], &o);
    if (!o.endpoint || !*o.endpoint) {
        fputs("cattube: --endpoint is required (or set CATTUBE_ENDPOINT)\n", stderr);
        return 2;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("cattube: cannot initialise libcurl\n", stderr);
        return 1;
    }
    int rc = user_cmd(argv[2], &o);
    curl_global_cleanup();
    return rc;
}
