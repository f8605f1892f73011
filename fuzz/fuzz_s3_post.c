/* libFuzzer target: POST Object's streaming multipart/form-data parser
 * (s3_form) and the policy document check (s3_post_policy_check).
 * Input: [1 byte chunk size][policy JSON] "\n--\n" [multipart body with
 * boundary XyZ]. The body is fed in chunks of the given size, so delimiters
 * split across reads are exercised; the text fields collected are then
 * checked against the policy. */
#include "s3/s3_post.h"

#include <stdint.h>
#include <string.h>

#define MAX_F 32

typedef struct {
    s3_form_field f[MAX_F];
    char names[MAX_F][64];
    char values[MAX_F][256];
    int n, cur, in_file;
    size_t file_bytes;
} collect;

static ct_err on_begin(void *ctx, const char *name, const char *filename, const char *ctype)
{
    collect *c = ctx;
    (void)ctype;
    if (!name || !*name)
        __builtin_trap(); /* the parser refuses nameless parts */
    c->in_file = strcmp(name, "file") == 0 || filename != NULL;
    c->cur = -1;
    if (!c->in_file && c->n < MAX_F) {
        c->cur = c->n++;
        snprintf(c->names[c->cur], sizeof c->names[0], "%s", name);
        c->values[c->cur][0] = '\0';
    }
    return CT_OK;
}

static ct_err on_data(void *ctx, const char *p, size_t n)
{
    collect *c = ctx;
    if (c->in_file) {
        c->file_bytes += n;
        return c->file_bytes > (1u << 20) ? CT_ERR_TOO_LARGE : CT_OK;
    }
    if (c->cur >= 0) {
        size_t have = strlen(c->values[c->cur]);
        size_t room = sizeof c->values[0] - 1 - have;
        size_t k = n < room ? n : room;
        memcpy(c->values[c->cur] + have, p, k);
        c->values[c->cur][have + k] = '\0';
    }
    return CT_OK;
}

static ct_err on_end(void *ctx)
{
    ((collect *)ctx)->in_file = 0;
    return CT_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = data[0] ? data[0] : 1;
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    const char *sep = memmem(in, len, "\n--\n", 4);
    const char *policy = in, *body = in;
    size_t plen = 0, blen = len;
    if (sep) {
        plen = (size_t)(sep - in);
        body = sep + 4;
        blen = len - plen - 4;
    }
    static const s3_form_cb cb = {on_begin, on_data, on_end};
    collect c;
    memset(&c, 0, sizeof c);
    char msg[300];
    s3_form *f = s3_form_new("multipart/form-data; boundary=\"XyZ\"", &cb, &c, msg, sizeof msg);
    if (!f)
        __builtin_trap();
    ct_err e = CT_OK;
    for (size_t off = 0; off < blen && !e; off += chunk)
        e = s3_form_feed(f, body + off, blen - off < chunk ? blen - off : chunk);
    if (!e)
        e = s3_form_finish(f);
    if (e == CT_ERR_INVALID && !s3_form_msg(f)[0])
        __builtin_trap(); /* malformed input always says why */
    s3_form_free(f);
    for (int i = 0; i < c.n; i++) {
        c.f[i].name = c.names[i];
        c.f[i].value = c.values[i];
    }
    s3_post_input pin = {c.f, c.n, "bucket", 1700000000};
    s3_post_limits lim;
    if (plen && s3_post_policy_check(policy, plen, &pin, &lim, msg, sizeof msg) == 0 &&
        lim.max_len >= 0 && lim.min_len > lim.max_len)
        __builtin_trap();
    /* Content-Type headers the parser must refuse or accept without crashing */
    char ct[96];
    size_t n = len < 60 ? len : 60;
    memcpy(ct, "multipart/form-data; boundary=", 30);
    memcpy(ct + 30, in, n);
    ct[30 + n] = '\0';
    s3_form_free(s3_form_new(ct, &cb, &c, msg, sizeof msg));
    return 0;
}
