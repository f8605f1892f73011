/* Hex, base64, URI and XML encodings. */
#include "core/core.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

void ct_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int ct_unhex(const char *in, size_t n, unsigned char *out)
{
    if (n % 2)
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        int hi = hexval((unsigned char)in[i]), lo = hexval((unsigned char)in[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

char *ct_b64_encode(const unsigned char *in, size_t n)
{
    size_t outlen = 4 * ((n + 2) / 3) + 1;
    char *out = malloc(outlen);
    if (!out)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    return out;
}

long ct_b64_decode(const char *in, size_t n, unsigned char *out)
{
    if (n % 4)
        return -1;
    int len = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
    if (len < 0)
        return -1;
    /* EVP_DecodeBlock counts padding bytes as output; remove them. */
    if (n >= 1 && in[n - 1] == '=')
        len--;
    if (n >= 2 && in[n - 2] == '=')
        len--;
    return len;
}

/* RFC 3986's unreserved bytes: a table, as SigV4 tests every byte of
 * every query parameter (the chain of comparisons showed in profiles). */
#define U1(c) [c] = 1
static const unsigned char unreserved[256] = {
    U1('-'), U1('.'), U1('_'), U1('~'), U1('0'), U1('1'), U1('2'), U1('3'), U1('4'), U1('5'),
    U1('6'), U1('7'), U1('8'), U1('9'), U1('A'), U1('B'), U1('C'), U1('D'), U1('E'), U1('F'),
    U1('G'), U1('H'), U1('I'), U1('J'), U1('K'), U1('L'), U1('M'), U1('N'), U1('O'), U1('P'),
    U1('Q'), U1('R'), U1('S'), U1('T'), U1('U'), U1('V'), U1('W'), U1('X'), U1('Y'), U1('Z'),
    U1('a'), U1('b'), U1('c'), U1('d'), U1('e'), U1('f'), U1('g'), U1('h'), U1('i'), U1('j'),
    U1('k'), U1('l'), U1('m'), U1('n'), U1('o'), U1('p'), U1('q'), U1('r'), U1('s'), U1('t'),
    U1('u'), U1('v'), U1('w'), U1('x'), U1('y'), U1('z'),
};
#undef U1

static int is_unreserved(unsigned char c) { return unreserved[c]; }

int ct_uri_all_unreserved(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!unreserved[(unsigned char)s[i]])
            return 0;
    return 1;
}

ct_err ct_uri_encode(ct_buf *b, const char *s, size_t n, int keep_slash)
{
    static const char digits[] = "0123456789ABCDEF";
    /* Encoded in a stack chunk, appended per chunk: SigV4 encodes every
     * query parameter, and an append per character showed in profiles. */
    char chunk[256];
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        if (used > sizeof chunk - 3) {
            ct_err e = ct_buf_append(b, chunk, used);
            if (e)
                return e;
            used = 0;
        }
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            chunk[used++] = (char)c;
        } else {
            chunk[used++] = '%';
            chunk[used++] = digits[c >> 4];
            chunk[used++] = digits[c & 15];
        }
    }
    /* also when nothing was written, so b->data is a "" string */
    return ct_buf_append(b, chunk, used);
}

char *ct_uri_decode(const char *s, size_t n, int plus_is_space, size_t *out_len)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (i + 2 >= n) {
                free(out);
                return NULL;
            }
            int hi = hexval((unsigned char)s[i + 1]), lo = hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0) {
                free(out);
                return NULL;
            }
            out[j++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (plus_is_space && s[i] == '+') {
            out[j++] = ' ';
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
    if (out_len)
        *out_len = j;
    return out;
}

ct_err ct_form_encode(ct_buf *b, const char *s)
{
    static const char digits[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        ct_err e;
        if (c == ' ') {
            e = ct_buf_append(b, "+", 1);
        } else if (is_unreserved(c) || c == '*') {
            e = ct_buf_append(b, s, 1);
        } else {
            char esc[3] = {'%', digits[c >> 4], digits[c & 15]};
            e = ct_buf_append(b, esc, 3);
        }
        if (e)
            return e;
    }
    return CT_OK;
}

ct_err ct_xml_escape(ct_buf *b, const char *s)
{
    for (; *s; s++) {
        const char *rep = NULL;
        switch (*s) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&apos;"; break;
        case '\r': rep = "&#13;"; break;
        case '\n': rep = "&#10;"; break;
        default: break;
        }
        ct_err e = rep ? ct_buf_puts(b, rep) : ct_buf_append(b, s, 1);
        if (e)
            return e;
    }
    if (!b->data)
        return ct_buf_append(b, "", 0);
    return CT_OK;
}

int ct_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        unsigned c = *p++;
        if (c < 0x80)
            continue;
        int more = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : -1;
        if (more < 0 || c > 0xF4 || c == 0xC0 || c == 0xC1 || end - p < more)
            return 0;
        unsigned cp = c & (0x3Fu >> more);
        for (int i = 0; i < more; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3Fu);
        }
        p += more;
        if ((more == 2 && cp < 0x800) || (more == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
    }
    return 1;
}
