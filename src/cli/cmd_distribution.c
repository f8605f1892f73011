/* cmd_distribution: `cattube distribution create|list|get|delete`, a client of
 * the admin API (/cattube/admin/distributions) through ct_cli_admin_call
 * (cmd_admin.c: SigV4, service "cattube", signed by the client module). Prints the server's JSON,
 * pretty, on stdout; on an error prints the server's message on stderr and
 * exits 1. */
#include "cli/cli.h"
#include "client/client.h"
#include "core/core.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADMIN_PATH "/cattube/admin/distributions"

static void usage(FILE *f)
{
    fputs("usage:\n"
          "  cattube distribution create --origin-bucket BUCKET\n"
          "                              [--viewer-protocol-policy redirect-to-https|https-only|allow-all]\n"
          "                              [--comment TEXT] [--no-origin-access-control]\n"
          "                              [common options]\n"
          "  cattube distribution list   [common options]\n"
          "  cattube distribution get ID [common options]\n"
          "  cattube distribution delete ID [common options]\n"
          "common options:\n"
          "  --endpoint URL      the CatTube API endpoint (default $CATTUBE_ENDPOINT)\n"
          "  --region REGION     SigV4 signing region (default us-east-1)\n"
          "  --no-verify-ssl     do not verify the endpoint's TLS certificate\n"
          "  --ca-bundle PEM     trust the CAs in PEM (instead of the system's) for an https\n"
          "                      endpoint, e.g. a private CA (as the aws CLI's --ca-bundle)\n"
          "credentials: CATTUBE_ROOT_ACCESS_KEY / CATTUBE_ROOT_SECRET_KEY, else\n"
          "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY\n"
          "A distribution is served at https://<id>.cattube.localhost:<edge port>/<key>; requests\n"
          "whose Host names no distribution go to the most recently created one.\n"
          "create does the seed's step 5: it reuses (or makes) the origin access control\n"
          "<bucket>.s3.amazonaws.com and appends the console's \"Copy policy\" statement to\n"
          "the bucket's policy (printed as bucketPolicyStatement). With\n"
          "--no-origin-access-control the edge reads the bucket anonymously (public only).\n",
          f);
}

typedef struct {
    ct_cli_admin_target t;
    const char *origin_bucket, *policy, *comment, *id;
    int no_oac;
} dist_opts;

static int call(const dist_opts *o, const char *method, const char *suffix, const char *body)
{
    char path[128];
    snprintf(path, sizeof path, ADMIN_PATH "%s", suffix);
    return ct_cli_admin_call(&o->t, method, path, body);
}

static int id_ok(const char *id)
{
    size_t n = strlen(id);
    return n > 0 && n <= 64 && strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == n;
}

int ct_cmd_distribution(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    dist_opts o = {.t = {.endpoint = getenv("CATTUBE_ENDPOINT"), .region = "us-east-1"}};
    static const struct {
        const char *name;
        size_t off;
    } opts[] = {
        {"--endpoint", offsetof(dist_opts, t.endpoint)},
        {"--region", offsetof(dist_opts, t.region)},
        {"--ca-bundle", offsetof(dist_opts, t.ca_file)},
        {"--origin-bucket", offsetof(dist_opts, origin_bucket)},
        {"--viewer-protocol-policy", offsetof(dist_opts, policy)},
        {"--comment", offsetof(dist_opts, comment)},
    };
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--no-verify-ssl") == 0) {
            o.t.no_verify = 1;
            continue;
        }
        if (strcmp(a, "--no-origin-access-control") == 0) {
            o.no_oac = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (o.id) {
                fprintf(stderr, "cattube: unexpected argument '%s'\n", a);
                return 2;
            }
            o.id = a;
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
                return 2;
            }
            *(const char **)((char *)&o + opts[k].off) = v;
            break;
        }
        if (k == CT_ARRAY_LEN(opts)) {
            fprintf(stderr, "cattube: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!o.t.endpoint || !*o.t.endpoint) {
        fputs("cattube: --endpoint is required (or set CATTUBE_ENDPOINT)\n", stderr);
        return 2;
    }
    if (ct_client_global_init() != CT_OK) {
        fputs("cattube: cannot initialise libcurl\n", stderr);
        return 1;
    }
    int rc = 2;
    if (strcmp(sub, "create") == 0) {
        if (!o.origin_bucket || o.id) {
            fputs(o.id ? "cattube: create takes no ID\n" : "cattube: --origin-bucket is required\n",
                  stderr);
            goto out;
        }
        json_t *req = json_pack("{s:s, s:s}", "originBucket", o.origin_bucket,
                                "viewerProtocolPolicy", o.policy ? o.policy : "redirect-to-https");
        if (req && o.comment)
            json_object_set_new(req, "comment", json_string(o.comment));
        if (req && o.no_oac)
            json_object_set_new(req, "originAccessControl", json_false());
        char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
        json_decref(req);
        if (!body) {
            fputs("cattube: invalid (non UTF-8?) argument\n", stderr);
            rc = 1;
            goto out;
        }
        rc = call(&o, "POST", "", body);
        free(body);
    } else if (strcmp(sub, "list") == 0) {
        rc = o.id ? (fputs("cattube: list takes no ID\n", stderr), 2) : call(&o, "GET", "", NULL);
    } else if (strcmp(sub, "get") == 0 || strcmp(sub, "delete") == 0) {
        if (!o.id || !id_ok(o.id)) {
            fprintf(stderr, "cattube: %s needs a distribution ID (E + 13 letters/digits)\n", sub);
            goto out;
        }
        char suffix[80];
        snprintf(suffix, sizeof suffix, "/%s", o.id);
        rc = call(&o, strcmp(sub, "get") == 0 ? "GET" : "DELETE", suffix, NULL);
    } else {
        fprintf(stderr, "cattube: unknown distribution command '%s'\n", sub);
        usage(stderr);
    }
out:
    ct_client_global_cleanup();
    return rc;
}
