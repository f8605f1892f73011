/* libFuzzer target: SigV4 parsing, canonicalisation, verification, signing.
 * Input: first line = request target, second line = method, then up to 32
 * "name:value" header lines. */
#include "iam/iam.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAXH 32

typedef struct {
    char *name[MAXH], *value[MAXH];
    int n;
} fhdrs;

static const char *fh_get(void *ctx, const char *lname)
{
    fhdrs *h = ctx;
    for (int i = 0; i < h->n; i++)
        if (strcasecmp(h->name[i], lname) == 0)
            return h->value[i];
    return NULL;
}

static void exercise(const ct_sigv4_request *req)
{
    ct_sigv4_auth a;
    char msg[512], out[2048], *cr = NULL, *sts = NULL, *t = NULL;
    ct_err e = ct_sigv4_parse(req, &a, msg, sizeof msg);
    if (e)
        return;
    time_t now = 1369353600;
    ct_sigv4_verify(req, &a, "secret", NULL, now, msg, sizeof msg);
    ct_sigv4_verify(req, &a, "secret", "UNSIGNED-PAYLOAD", now, msg, sizeof msg);
    if (ct_sigv4_explain(req, &a, NULL, &cr, &sts) == CT_OK) {
        free(cr);
        free(sts);
    }
    ct_sigv4_sign(req, a.access_key, "secret", a.region, a.service, a.amz_date, a.signed_headers,
                  NULL, out, sizeof out);
    if (!a.presigned && ct_sigv4_presign(req, a.access_key, "secret", a.region, a.service,
                                         a.amz_date, 60, a.signed_headers, NULL, &t) == CT_OK)
        free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    fhdrs h = {0};
    char *save = NULL, *target = strtok_r(buf, "\n", &save);
    char *method = target ? strtok_r(NULL, "\n", &save) : NULL;
    for (char *line; h.n < MAXH && (line = strtok_r(NULL, "\n", &save));) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        h.name[h.n] = line;
        h.value[h.n++] = colon + 1;
    }
    if (target) {
        ct_sigv4_request req = {method ? method : "GET", target, fh_get, &h};
        exercise(&req);
        ct_sigv4_request noh = {method, target, NULL, NULL};
        exercise(&noh);
    }
    free(buf);
    return 0;
}
