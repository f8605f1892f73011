#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ct_err buf_reserve(ct_buf *b, size_t extra)
{
    size_t max = b->max ? b->max : CT_BUF_DEFAULT_MAX;
    if (extra > max || b->len + extra > max)
        return CT_ERR_TOO_LARGE;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return CT_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return CT_ERR_NOMEM;
    b->data = p;
    b->cap = cap;
    return CT_OK;
}

ct_err ct_buf_reserve(ct_buf *b, size_t extra) { return buf_reserve(b, extra); }

ct_err ct_buf_append(ct_buf *b, const void *p, size_t n)
{
    ct_err e = buf_reserve(b, n);
    if (e)
        return e;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return CT_OK;
}

ct_err ct_buf_puts(ct_buf *b, const char *s) { return ct_buf_append(b, s, strlen(s)); }

ct_err ct_buf_vprintf(ct_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return CT_ERR_INVALID;
    ct_err e = buf_reserve(b, (size_t)n);
    if (e)
        return e;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return CT_OK;
}

ct_err ct_buf_printf(ct_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ct_err e = ct_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return e;
}

void ct_buf_reset(ct_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void ct_buf_free(ct_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

ct_err ct_buf_adopt(ct_buf *b, char *data, size_t len)
{
    if (b->data || len > (b->max ? b->max : CT_BUF_DEFAULT_MAX))
        return CT_ERR_INVALID;
    b->data = data;
    b->len = len;
    b->cap = len + 1;
    return CT_OK;
}

char *ct_buf_take(ct_buf *b)
{
    char *p = b->data;
    if (!p)
        p = calloc(1, 1);
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
