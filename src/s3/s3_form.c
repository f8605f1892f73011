/* s3_form.c: a streaming multipart/form-data parser (RFC 7578/2046).
 *
 * The body is scanned for the delimiter "\r\n--boundary". '\r' occurs in the
 * delimiter only at its start (boundaries may not hold CR), so a failed
 * partial match restarts at the current byte and the bytes held back are
 * the delimiter's own prefix: no buffering of part data at all. The first
 * delimiter may open the body without its CRLF, hence the parser starts as
 * if "\r\n" had been seen. Part headers are bounded (FORM_MAX_HEADER). */
#include "s3/s3_post.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#define FORM_MAX_BOUNDARY 70
#define FORM_MAX_HEADER 4096
#define FORM_MAX_PARTS 1000

typedef enum { F_PREAMBLE, F_AFTER_DELIM, F_AFTER_DASH, F_AFTER_CR, F_HEADERS, F_BODY, F_DONE } fstate;

struct s3_form {
    s3_form_cb cb;
    void *ctx;
    char delim[FORM_MAX_BOUNDARY + 5]; /* "\r\n--" boundary */
    size_t dlen, m;                    /* delimiter length, bytes matched */
    fstate st;
    ct_err err;
    int parts;
    ct_buf hdr;
    char msg[160];
};

static int bchar(int c)
{
    return isalnum(c) || strchr("'()+_,-./:=? ", c) != NULL;
}

/* boundary=value or boundary="value" from the Content-Type header. */
static int get_boundary(const char *ct, char *out, size_t n)
{
    const char *p = ct;
    while ((p = strcasestr(p, "boundary=")) != NULL) {
        if (p == ct || p[-1] == ';' || p[-1] == ' ' || p[-1] == '\t')
            break;
        p++;
    }
    if (!p)
        return -1;
    p += 9;
    size_t len;
    if (*p == '"') {
        p++;
        const char *q = strchr(p, '"');
        if (!q)
            return -1;
        len = (size_t)(q - p);
    } else {
        len = strcspn(p, "; \t");
    }
    if (len == 0 || len > FORM_MAX_BOUNDARY || len >= n || p[len - 1] == ' ')
        return -1;
    for (size_t i = 0; i < len; i++)
        if (!bchar((unsigned char)p[i]))
            return -1;
    memcpy(out, p, len);
    out[len] = '\0';
    return 0;
}

s3_form *s3_form_new(const char *content_type, const s3_form_cb *cb, void *ctx, char *msg,
                     size_t msglen)
{
    char b[FORM_MAX_BOUNDARY + 1];
    const char *ct = content_type ? content_type : "";
    while (*ct == ' ')
        ct++;
    if (strncasecmp(ct, "multipart/form-data", 19) != 0 || get_boundary(ct, b, sizeof b)) {
        snprintf(msg, msglen, "POST requires a multipart/form-data body with a boundary");
        return NULL;
    }
    s3_form *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(msg, msglen, "out of memory");
        return NULL;
    }
    f->cb = *cb;
    f->ctx = ctx;
    f->dlen = (size_t)snprintf(f->delim, sizeof f->delim, "\r\n--%s", b);
    f->m = 2; /* the body may start with "--boundary" */
    f->st = F_PREAMBLE;
    f->hdr.max = FORM_MAX_HEADER;
    return f;
}

void s3_form_free(s3_form *f)
{
    if (!f)
        return;
    ct_buf_free(&f->hdr);
    free(f);
}

const char *s3_form_msg(const s3_form *f) { return f->msg; }

static ct_err fail(s3_form *f, const char *msg)
{
    snprintf(f->msg, sizeof f->msg, "%s", msg);
    return f->err = CT_ERR_INVALID;
}

/* Value of param (name= or filename=) in a Content-Disposition header,
 * unquoting "..." with backslash escapes. Heap or NULL when absent. */
static char *disp_param(const char *v, const char *param)
{
    size_t plen = strlen(param);
    const char *p = v;
    while ((p = strchr(p, ';')) != NULL) {
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncasecmp(p, param, plen) != 0 || p[plen] != '=')
            continue;
        p += plen + 1;
        ct_buf out = CT_BUF_INIT;
        if (*p != '"') {
            ct_buf_append(&out, p, strcspn(p, "; \t"));
        } else {
            for (p++; *p && *p != '"'; p++) {
                if (*p == '\\' && p[1])
                    p++;
                ct_buf_append(&out, p, 1);
            }
        }
        ct_buf_append(&out, "", 0);
        return ct_buf_take(&out);
    }
    return NULL;
}

static char *trimmed(const char *p, size_t n)
{
    while (n && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    return strndup(p, n);
}

/* The part's header block (without the final empty line) is in f->hdr. */
static ct_err headers_done(s3_form *f)
{
    char *disp = NULL, *ctype = NULL, *name = NULL, *filename = NULL;
    const char *p = f->hdr.data ? f->hdr.data : "";
    const char *end = p + f->hdr.len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)((eol ? eol : end) - p);
        size_t ll = len && p[len - 1] == '\r' ? len - 1 : len;
        const char *colon = memchr(p, ':', ll);
        if (colon && (size_t)(colon - p) == 19 && strncasecmp(p, "Content-Disposition", 19) == 0) {
            free(disp);
            disp = trimmed(colon + 1, ll - 20);
        } else if (colon && (size_t)(colon - p) == 12 && strncasecmp(p, "Content-Type", 12) == 0) {
            free(ctype);
            ctype = trimmed(colon + 1, ll - 13);
        }
        p += len + (eol ? 1 : 0);
    }
    ct_err e = CT_OK;
    if (!disp || strncasecmp(disp, "form-data", 9) != 0 ||
        !(name = disp_param(disp, "name")) || strlen(name) == 0) {
        e = fail(f, "a part lacks Content-Disposition: form-data; name=...");
        goto cleanup;
    }
    filename = disp_param(disp, "filename");
    if (++f->parts > FORM_MAX_PARTS) {
        e = fail(f, "too many parts");
        goto cleanup;
    }
    if ((e = f->cb.part_begin(f->ctx, name, filename, ctype)))
        f->err = e;
cleanup:
    free(disp);
    free(ctype);
    free(name);
    free(filename);
    return e;
}

static ct_err header_byte(s3_form *f, char c)
{
    if (ct_buf_append(&f->hdr, &c, 1))
        return fail(f, "part headers too large");
    size_t n = f->hdr.len;
    const char *d = f->hdr.data;
    /* an empty header block is just CRLF; else it ends with CRLFCRLF */
    if ((n == 2 && memcmp(d, "\r\n", 2) == 0) || (n >= 4 && memcmp(d + n - 4, "\r\n\r\n", 4) == 0)) {
        f->hdr.len = n == 2 ? 0 : n - 2;
        ct_err e = headers_done(f);
        ct_buf_reset(&f->hdr);
        f->st = F_BODY;
        f->m = 0;
        return e;
    }
    return CT_OK;
}

static ct_err emit(s3_form *f, const char *p, size_t n)
{
    if (f->st != F_BODY || !n)
        return CT_OK;
    ct_err e = f->cb.part_data(f->ctx, p, n);
    if (e)
        f->err = e;
    return e;
}

/* A whole delimiter was matched. */
static ct_err delimiter(s3_form *f)
{
    ct_err e = CT_OK;
    if (f->st == F_BODY && (e = f->cb.part_end(f->ctx)))
        f->err = e;
    f->st = F_AFTER_DELIM;
    f->m = 0;
    return e;
}

/* Scanning part data (or the preamble) for the delimiter; returns bytes used. */
static size_t scan(s3_form *f, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && !f->err && (f->st == F_BODY || f->st == F_PREAMBLE)) {
        if (f->m == 0) {
            const char *cr = memchr(p + i, '\r', n - i);
            size_t end = cr ? (size_t)(cr - p) : n;
            if (emit(f, p + i, end - i))
                break;
            i = end;
            if (cr) {
                f->m = 1;
                i++;
            }
        } else if (p[i] == f->delim[f->m]) {
            i++;
            if (++f->m == f->dlen)
                delimiter(f);
        } else {
            size_t held = f->m;
            f->m = 0; /* the held bytes are the delimiter's prefix: data */
            emit(f, f->delim, held);
        }
    }
    return i;
}

ct_err s3_form_feed(s3_form *f, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && !f->err) {
        char c = p[i];
        switch (f->st) {
        case F_PREAMBLE:
        case F_BODY:
            i += scan(f, p + i, n - i);
            continue;
        case F_AFTER_DELIM: /* "--" ends the body, CRLF starts a part; LWSP padding */
            if (c == '-')
                f->st = F_AFTER_DASH;
            else if (c == '\r')
                f->st = F_AFTER_CR;
            else if (c != ' ' && c != '\t')
                fail(f, "malformed boundary line");
            break;
        case F_AFTER_DASH:
            if (c == '-')
                f->st = F_DONE;
            else
                fail(f, "malformed closing boundary");
            break;
        case F_AFTER_CR:
            if (c == '\n')
                f->st = F_HEADERS;
            else
                fail(f, "malformed boundary line");
            break;
        case F_HEADERS:
            header_byte(f, c);
            break;
        case F_DONE:
            return CT_OK; /* the epilogue is ignored */
        }
        i++;
    }
    return f->err;
}

ct_err s3_form_finish(s3_form *f)
{
    if (f->err)
        return f->err;
    if (f->st != F_DONE)
        return fail(f, "the body ended before the closing boundary");
    return CT_OK;
}
