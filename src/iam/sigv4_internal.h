/* iam internals shared by sigv4_canon.c (canonical request, signing key)
 * and sigv4.c (parsing, verification, signing). Not for other modules. */
#ifndef CT_IAM_SIGV4_INTERNAL_H
#define CT_IAM_SIGV4_INTERNAL_H

#include "iam/iam.h"

#define SIGV4_ALGO "AWS4-HMAC-SHA256"
#define MAX_TARGET ((size_t)32 << 10)      /* raw request target */
#define MAX_QUERY_PARAMS 256
#define MAX_SIGNED_HEADERS 64
#define MAX_HEADER_VALUE ((size_t)16 << 10) /* one header value */
#define MAX_AUTH_HEADER ((size_t)4 << 10)
#define MAX_CANONICAL ((size_t)1 << 20)
#define MAX_SKEW_SECONDS 900
#define MAX_EXPIRES 604800L

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct {
    char *key, *val;   /* decoded (may hold NUL bytes) */
    size_t klen, vlen;
    char *ekey, *eval; /* canonical encoding, NUL-terminated */
    int same;          /* unreserved text: ekey == key and eval == val, one allocation */
} qparam;

typedef struct {
    qparam p[MAX_QUERY_PARAMS];
    size_t n;
} qlist;

static inline int is_digit(int c) { return c >= '0' && c <= '9'; }

static inline int is_hex(int c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static inline int is_space(int c)
{
    /* Python's str.split() whitespace in the ASCII range (botocore trims with it). */
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

static inline int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

__attribute__((format(printf, 3, 4))) void iam_msg(char *msg, size_t msglen, const char *fmt, ...);
/* Empties msg without printf (every printf in this process is slow: see
 * sigv4_canon.c). */
static inline void iam_msg_clear(char *msg, size_t msglen)
{
    if (msg && msglen)
        msg[0] = '\0';
}

/* Raw query -> decoded and canonically re-encoded parameters (empty pieces
 * skipped; CT_ERR_INVALID for a malformed escape, CT_ERR_TOO_LARGE past
 * MAX_QUERY_PARAMS). iam_qlist_free in every case. */
ct_err iam_qlist_parse(qlist *q, const char *query, size_t len);
/* Decoded value of the first parameter named key (NULL if absent or holding a
 * NUL byte); *present set to 1 when the key exists. */
const char *iam_qlist_get(const qlist *q, const char *key, int *present);
void iam_qlist_free(qlist *q);
/* raw target -> path and query (after '?', without '#fragment'); -1 when
 * too long or not origin-form. */
int iam_split_target(const ct_sigv4_request *req, const char **path, size_t *plen,
                     const char **query, size_t *qlen);
/* ';'-separated lowercase names, at most MAX_SIGNED_HEADERS, host included. */
int iam_signed_headers_ok(const char *sh, char *msg, size_t msglen);
/* "YYYYMMDDTHHMMSSZ" -> seconds, -1 if malformed. */
int64_t iam_parse_amz_date(const char *s);
/* Canonical request and string to sign for (req, a). */
ct_err iam_build_canonical(const ct_sigv4_request *req, const ct_sigv4_auth *a,
                           const char *payload_hash, ct_buf *cr, ct_buf *sts);
/* Hex signature of (req, a) with secret; cr/sts receive the intermediate text. */
ct_err iam_compute_signature(const ct_sigv4_request *req, const ct_sigv4_auth *a,
                             const char *secret, const char *payload_hash, char sig[65],
                             ct_buf *cr, ct_buf *sts);

#endif
