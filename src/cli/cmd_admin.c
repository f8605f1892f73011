/* cmd_admin: `cattube admin user|role|policy ...`, a client of the admin API
 * (/cattube/admin/users, /cattube/admin/roles, /cattube/admin/policies) signed with SigV4 (service
 * "cattube") by the client module; ct_cli_admin_call is shared with
 * cmd_distribution.
 * Prints the server's JSON, pretty, on stdout; on an error prints the
 * server's message on stderr and exits 1. `admin jobs` works on the
 * database instead (jobs_admin.c). */
#include "cli/cli.h"
#include "client/client.h"
#include "core/core.h"

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
          "  cattube admin role create|list|get|delete|attach-policy|detach-policy|list-policies\n"
          "                                   as for users: the roles jobs run as (CreateJob's\n"
          "                                   Role arn:aws:iam::ACCOUNT:role/NAME)\n"
          "  cattube admin policy validate --policy-document file://p.json|JSON [--bucket B]\n"
          "                                   (--bucket: validate as that bucket's policy)\n"
          "  cattube admin jobs purge --older-than-days N [--data DIR | --db URL]\n"
          "                                   delete jobs finished more than N days ago, on the\n"
          "                                   database itself ('admin jobs --help')\n"
          "common options:\n"
          "  --endpoint URL      the CatTube API endpoint (default $CATTUBE_ENDPOINT)\n"
          "  --region REGION     SigV4 signing region (default us-east-1)\n"
          "  --no-verify-ssl     do not verify the endpoint's TLS certificate\n"
          "  --ca-bundle PEM     trust the CAs in PEM (instead of the system's) for an https\n"
          "                      endpoint, e.g. a private CA (as the aws CLI's --ca-bundle)\n"
          "credentials (root only): CATTUBE_ROOT_ACCESS_KEY / CATTUBE_ROOT_SECRET_KEY, else\n"
          "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY\n",
          f);
}

typedef struct {
    ct_cli_admin_target t;
    const char *document, *policy_name, *bucket, *name;
} admin_opts;

static const char *env2(const char *a, const char *b)
{
    const char *v = getenv(a);
    if (v && *v)
        return v;
    v = getenv(b);
    return v && *v ? v : NULL;
}

/* Prints the server's answer (pretty JSON, or its message on stderr). */
static int report(const ct_buf *body)
{
    json_t *j = body->len ? json_loadb(body->data, body->len, 0, NULL) : NULL;
    char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    if (text)
        printf("%s\n", text);
    else if (body->len)
        printf("%s\n", body->data);
    free(text);
    json_decref(j);
    return 0;
}

int ct_cli_admin_call(const ct_cli_admin_target *t, const char *method, const char *path,
                      const char *body)
{
    ct_client_config cfg = {
        .access_key = env2("CATTUBE_ROOT_ACCESS_KEY", "AWS_ACCESS_KEY_ID"),
        .secret_key = env2("CATTUBE_ROOT_SECRET_KEY", "AWS_SECRET_ACCESS_KEY"),
        .region = t->region, .service = "cattube", .no_verify_tls = t->no_verify,
        .ca_file = t->ca_file};
    char why[128];
    if (t->ca_file && ct_client_ca_file_check(t->ca_file, why, sizeof why)) {
        fprintf(stderr, "cattube: --ca-bundle %s: %s\n", t->ca_file, why);
        return 2;
    }
    if (!cfg.access_key || !cfg.secret_key) {
        fputs("cattube: no credentials: set CATTUBE_ROOT_ACCESS_KEY and "
              "CATTUBE_ROOT_SECRET_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)\n",
              stderr);
        return 1;
    }
    size_t elen = strlen(t->endpoint);
    while (elen && t->endpoint[elen - 1] == '/')
        elen--;
    const char *json_hdrs[] = {"Accept: application/json", "Content-Type: application/json",
                               NULL};
    ct_buf url = CT_BUF_INIT, resp_body = CT_BUF_INIT;
    resp_body.max = (size_t)8 << 20;
    ct_client_resp resp;
    ct_client *c = NULL;
    int rc = 1;
    ct_err e = ct_buf_printf(&url, "%.*s%s", (int)elen, t->endpoint, path);
    if (!e)
        e = ct_client_open(&cfg, &c);
    if (e) {
        fprintf(stderr, "cattube: %s\n", ct_err_str(e));
        goto cleanup;
    }
    if (!body)
        json_hdrs[1] = NULL;
    ct_client_req r = {.method = method, .url = url.data, .headers = json_hdrs, .body = body,
                       .body_len = body ? strlen(body) : 0, .resp_body = &resp_body};
    e = ct_client_request(c, &r, &resp);
    if (e == CT_OK)
        rc = report(&resp_body);
    else if (resp.status)
        fprintf(stderr, "cattube: %s (HTTP %ld)\n",
                resp.err_message[0] ? resp.err_message : "request failed", resp.status);
    else
        fprintf(stderr, "cattube: %s\n", resp.err_message[0] ? resp.err_message : ct_err_str(e));
cleanup:
    ct_client_close(c);
    ct_buf_free(&url);
    ct_buf_free(&resp_body);
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
        {"--endpoint", offsetof(admin_opts, t.endpoint)},
        {"--region", offsetof(admin_opts, t.region)},
        {"--ca-bundle", offsetof(admin_opts, t.ca_file)},
        {"--policy-document", offsetof(admin_opts, document)},
        {"--policy-name", offsetof(admin_opts, policy_name)},
        {"--bucket", offsetof(admin_opts, bucket)},
    };
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--no-verify-ssl") == 0) {
            o->t.no_verify = 1;
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

/* kind: "user" or "role" (the same commands on /cattube/admin/<kind>s). */
static int user_cmd(const char *kind, const char *sub, admin_opts *o)
{
    char path[256], base[64];
    int needs_name = strcmp(sub, "list") != 0;
    snprintf(base, sizeof base, "/cattube/admin/%ss", kind);
    if (needs_name != (o->name != NULL) || (o->name && !ct_iam_user_name_valid(o->name))) {
        fprintf(stderr, needs_name ? "cattube: %s %s needs a valid %s NAME\n"
                                   : "cattube: %s %s takes no NAME\n", kind, sub, kind);
        return 2;
    }
    const char *pname = o->policy_name ? o->policy_name : "inline";
    if (!ct_iam_user_name_valid(pname)) {
        fputs("cattube: --policy-name must match [A-Za-z0-9+=,.@_-]{1,64}\n", stderr);
        return 2;
    }
    if (strcmp(sub, "list") == 0)
        return ct_cli_admin_call(&o->t, "GET", base, NULL);
    if (strcmp(sub, "create") == 0) {
        json_t *j = json_pack("{s:s}", strcmp(kind, "role") == 0 ? "roleName" : "userName",
                              o->name);
        char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        int rc = body ? ct_cli_admin_call(&o->t, "POST", base, body) : 1;
        free(body);
        return rc;
    }
    snprintf(path, sizeof path, "%s/%s", base, o->name);
    if (strcmp(sub, "get") == 0 || strcmp(sub, "delete") == 0)
        return ct_cli_admin_call(&o->t, strcmp(sub, "get") == 0 ? "GET" : "DELETE", path, NULL);
    if (strcmp(sub, "list-policies") == 0)
        return ct_cli_admin_call(&o->t, "GET", strcat(path, "/policies"), NULL);
    if (strcmp(sub, "detach-policy") != 0 && strcmp(sub, "attach-policy") != 0) {
        fprintf(stderr, "cattube: unknown %s command '%s'\n", kind, sub);
        return 2;
    }
    snprintf(path + strlen(path), sizeof path - strlen(path), "/policies/%s", pname);
    if (strcmp(sub, "detach-policy") == 0)
        return ct_cli_admin_call(&o->t, "DELETE", path, NULL);
    if (!o->document) {
        fputs("cattube: attach-policy needs --policy-document\n", stderr);
        return 2;
    }
    char *doc = load_document(o->document);
    int rc = doc ? ct_cli_admin_call(&o->t, "PUT", path, doc) : 1;
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
    if (strcmp(argv[1], "jobs") == 0)
        return ct_cmd_admin_jobs(argc - 1, argv + 1);
    if (argc < 3 || (strcmp(argv[1], "user") != 0 && strcmp(argv[1], "role") != 0 &&
                     strcmp(argv[1], "policy") != 0)) {
        usage(stderr);
        return 2;
    }
    admin_opts o = {.t = {.endpoint = getenv("CATTUBE_ENDPOINT"), .region = "us-east-1"}};
    if (parse_opts(argc - 3, argv + 3, &o))
        return 2;
    if (strcmp(argv[1], "policy") == 0)
        return policy_cmd(argv[2], &o);
    if (!o.t.endpoint || !*o.t.endpoint) {
        fputs("cattube: --endpoint is required (or set CATTUBE_ENDPOINT)\n", stderr);
        return 2;
    }
    if (ct_client_global_init() != CT_OK) {
        fputs("cattube: cannot initialise libcurl\n", stderr);
        return 1;
    }
    int rc = user_cmd(argv[1], argv[2], &o);
    ct_client_global_cleanup();
    return rc;
}
