#include "core/core.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

uint64_t ct_fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

ct_err ct_snprintf(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(out, n, fmt, ap);
    va_end(ap);
    if (r < 0 || (size_t)r >= n)
        return CT_ERR_TOO_LARGE;
    return CT_OK;
}

const char *ct_mime_from_name(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {"mp4", "video/mp4"},  {"m4v", "video/mp4"},   {"m4a", "audio/mp4"},
        {"m4s", "video/iso.segment"}, {"mov", "video/quicktime"},
        {"mkv", "video/x-matroska"}, {"webm", "video/webm"},
        {"m3u8", "application/vnd.apple.mpegurl"}, {"mpd", "application/dash+xml"},
        {"ts", "video/mp2t"},  {"jpg", "image/jpeg"},  {"jpeg", "image/jpeg"},
        {"png", "image/png"},  {"vtt", "text/vtt"},    {"json", "application/json"},
        {"html", "text/html"}, {"txt", "text/plain"},  {"mp3", "audio/mpeg"},
        {"aac", "audio/aac"},  {"avi", "video/x-msvideo"}, {"flv", "video/x-flv"},
        {"cmfv", "video/mp4"}, {"cmfa", "audio/mp4"}, /* CMAF segments */
    };
    const char *dot = strrchr(name, '.');
    if (!dot || strchr(dot, '/'))
        return "application/octet-stream";
    for (size_t i = 0; i < CT_ARRAY_LEN(types); i++)
        if (strcasecmp(dot + 1, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static int parse_u64(const char *s, size_t n, uint64_t *out)
{
    if (n == 0 || n > 19)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

ct_err ct_range_parse(const char *hdr, uint64_t len, uint64_t *start, uint64_t *end)
{
    while (*hdr == ' ' || *hdr == '\t')
        hdr++;
    if (strncasecmp(hdr, "bytes=", 6) != 0)
        return CT_ERR_NOT_FOUND;
    const char *spec = hdr + 6;
    while (*spec == ' ')
        spec++;
    if (strchr(spec, ','))
        return CT_ERR_NOT_FOUND; /* multiple ranges: callers serve the whole object */
    size_t n = strlen(spec);
    while (n && (spec[n - 1] == ' ' || spec[n - 1] == '\t'))
        n--;
    const char *dash = memchr(spec, '-', n);
    if (!dash)
        return CT_ERR_NOT_FOUND;
    size_t first_len = (size_t)(dash - spec), last_len = n - first_len - 1;
    uint64_t a, b;
    if (first_len == 0) { /* suffix range: last N bytes */
        if (parse_u64(dash + 1, last_len, &b))
            return CT_ERR_NOT_FOUND;
        if (b == 0 || len == 0)
            return CT_ERR_INVALID;
        *start = b >= len ? 0 : len - b;
        *end = len - 1;
        return CT_OK;
    }
    if (parse_u64(spec, first_len, &a))
        return CT_ERR_NOT_FOUND;
    if (last_len == 0) {
        b = UINT64_MAX;
    } else if (parse_u64(dash + 1, last_len, &b) || b < a) {
        return CT_ERR_NOT_FOUND;
    }
    if (a >= len)
        return CT_ERR_INVALID;
    *start = a;
    *end = b >= len ? len - 1 : b;
    return CT_OK;
}
