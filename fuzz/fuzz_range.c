/* libFuzzer target: HTTP Range parsing (ct_range_parse, the edge's
 * multi-range edge_ranges_parse), Accept-Encoding, and the edge's
 * request parsing (Host, request target, key decoding, entity-tag lists).
 *
 * Input layout: byte 0 selects the object length (small lengths find the
 * edge cases: 0, 1, ...), the rest is the header / target text. Every parser
 * runs on the same text; invariants abort. */
#include "core/core.h"
#include "edge/edge_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const uint64_t lens[] = {0, 1, 2, 10, 100, 1000, 4096, UINT64_MAX / 2, UINT64_MAX};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    uint64_t len = lens[data[0] % (sizeof lens / sizeof lens[0])];
    char *s = malloc(size);
    if (!s)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';

    /* Range: a satisfiable answer lies inside the object. */
    uint64_t start = 0, end = 0;
    ct_err e = ct_range_parse(s, len, &start, &end);
    if (e == CT_OK && (len == 0 || start > end || end >= len))
        abort();
    if (e != CT_OK && e != CT_ERR_NOT_FOUND && e != CT_ERR_INVALID)
        abort();

    /* Several ranges: each inside the object, no more than asked for, and
     * together never more than the object (the overlap guard). */
    edge_range rg[EDGE_RANGES_MAX];
    int nr = edge_ranges_parse(s, len, rg, EDGE_RANGES_MAX);
    if (nr < -1 || nr > EDGE_RANGES_MAX)
        abort();
    uint64_t total = 0;
    for (int i = 0; i < nr; i++) {
        if (rg[i].start > rg[i].end || rg[i].end >= len)
            abort();
        total += rg[i].end - rg[i].start + 1;
    }
    if (total > len)
        abort();
    if (e == CT_OK && nr != 1)
        abort(); /* a single valid range reads the same either way */
    (void)edge_accepts_gzip(s);
    (void)edge_gzip_type(s);

    /* Host: the result is lowercase, bounded, and free of header-splitting bytes. */
    char name[EDGE_HOST_MAX];
    int v6 = 0;
    if (edge_host_parse(s, name, sizeof name, &v6) == 0) {
        size_t n = strlen(name);
        if (n == 0 || n >= sizeof name || strpbrk(name, "\r\n /?#@[]"))
            abort();
        char id[EDGE_ID_LEN + 1];
        if (edge_host_dist_label(name, id) && !edge_dist_id_valid(id))
            abort();
    }

    /* Request target and key: the path is inside the input, the key has no NUL. */
    const char *path, *pq, *auth;
    size_t pl, al;
    if (edge_target_split(s, &path, &pl, &pq, &auth, &al) == 0) {
        if (path < s || path + pl > s + strlen(s) || path[0] != '/')
            abort();
        ct_err err;
        char *key = edge_path_to_key(path, pl, &err);
        if (key && (err != CT_OK || strlen(key) > 1024 || strlen(key) >= pl))
            abort();
        if (!key && err == CT_OK)
            abort();
        free(key);
    }

    /* Entity tags: any header against a fixed tag, both comparisons. */
    int strong = edge_etag_match(s, "0123456789abcdef0123456789abcdef", 0);
    int weak = edge_etag_match(s, "0123456789abcdef0123456789abcdef", 1);
    if (strong && !weak)
        abort(); /* strong match implies weak match */

    edge_vpp p;
    (void)edge_vpp_parse(s, &p);
    free(s);
    return 0;
}
