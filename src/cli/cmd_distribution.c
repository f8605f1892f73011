/* cmd_distribution: `cattube distribution create|list|get|delete`, a client of
 * the admin API (/cattube/admin/distributions) signed with SigV4 (service
 * "cattube") through libcurl's CURLOPT_AWS_SIGV4. Prints the server's JSON,
 * pretty, on stdout; on an error prints the server's message on stderr and
 * exits 1. */
#include "cli/cli.h"
#include "core/core.h"

#include <curl/curl.h>
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
    const char *endpoint, *region, *origin_bucket, *policy, *comment, *id;
    int no_verify, no_oac;
} dist_opts;

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

/* Prints the server's answer; returns the exit code. */
static int report(long status, const ct_buf *body)
{
    json_t *j = body->len ? json_loadb(body->data, body->len, 0, NULL) : NULL;
    int rc = 0;
    if (status >= 200 && status < 300) {
        if (j) {
            char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            if (text)
                printf("%s\n", text);
            free(text);
        } else if (body->len) {
            printf("%s\n", body->data);
        }
    } else {
        const char *msg = json_string_value(json_object_get(j, "message"));
        if (!msg)
            msg = json_string_value(json_object_get(j, "Message"));
        fprintf(stderr, "cattube: %s (HTTP %ld)\n",
                msg ? msg : (body->len ? body->data : "request failed"), status);
        rc = 1;
    }
    json_decref(j);
    return rc;
}

static int call(const dist_opts *o, const char *method, const char *suffix, const char *body)
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
    ct_buf_printf(&url, "%.*s" ADMIN_PATH "%s", (int)elen, o->endpoint, suffix);
    ct_buf_printf(&userpwd, "%s:%s", ak, sk);
    ct_buf_printf(&sigv4, "aws:amz:%s:cattube", o->region);
    resp.max = (size_t)8 << 20;

    int rc = 1;
    struct curl_slist *hdrs = NULL;
    CURL *c = curl_easy_init();
    if (!c || !url.data || !userpwd.data || !sigv4.data) {
        fputs("cattube: out of memory\n", stderr);
        goto done;
    }
    curl_easy_setopt(c, CURLOPT_URL, url.data);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4.data);
    curl_easy_setopt(c, CURLOPT_USERPWD, userpwd.data);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (o->no_verify) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
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
        goto done;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    rc = report(status, &resp);
done:
    curl_slist_free_all(hdrs);
    if (c)
        curl_easy_cleanup(c);
    ct_buf_free(&url);
    ct_buf_free(&userpwd);
    ct_buf_free(&sigv4);
    ct_buf_free(&resp);
    return rc;
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
    dist_opts o = {.endpoint = getenv("CATTUBE_ENDPOINT"), .region = "us-east-1"};
    static const struct {
        const char *name;
        size_t off;
    } opts[] = {
        {"--endpoint", offsetof(dist_opts, endpoint)},
        {"--region", offsetof(dist_opts, region)},
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
            o.no_verify = 1;
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
    if (!o.endpoint || !*o.endpoint) {
        fputs("cattube: --endpoint is required (or set CATTUBE_ENDPOINT)\n", stderr);
        return 2;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
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
    curl_global_cleanup();
    return rc;
}
