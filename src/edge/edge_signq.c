/* edge_signq.c: the signed-query cache of signed URLs.
 *
 * DESIGN: a player sends the same signed query (Expires or Policy,
 * Signature, Key-Pair-Id) with every segment it fetches. Parsing it
 * (percent and base64 decoding, the policy's JSON) and hashing it for the
 * signature cache cost more than the rest of a small answer's handling, so
 * this cache keeps, keyed by the exact bytes of the query, what that work
 * established: the key pair id, the keyring generation the signature was
 * verified under, the query without its signing parameters, and the
 * conditions -- for a canned policy its Expires and the one resource URL
 * the signature covers, for a custom policy the decoded policy.
 *
 * Never cached: the decision. A hit re-evaluates everything that depends
 * on the request: the resource URL (scheme, Host, path) against the policy
 * (canned: any other URL is not decided here and takes the full check),
 * the time (DateLessThan / DateGreaterThan), the client address
 * (IpAddress), and the caller then checks that the key is still trusted by
 * this request's key groups at the same keyring generation (any key or key
 * group change retires every entry). Only queries whose signature verified
 * are stored, so a failure is never cached and a forged query can only
 * miss. Entries are compared byte for byte (the 64-bit hash only picks the
 * slot), live at most SIGNQ_TTL_MS, and the table is bounded: SIGNQ_SHARDS
 * x SIGNQ_SLOTS direct-mapped slots, a newer query replacing an older one
 * in its slot. Sharded read-write locks: every player of a stream sends
 * the same query, so the server threads meet on one shard all the time;
 * readers never wait for each other (a reader that lost its core does not
 * stall the other threads, as a mutex did).
 *
 * Signed cookies go through the same table: the key is the CloudFront-*
 * cookie values joined after a \x01 (which no request-line query starts
 * with), and since one cookie covers many URLs (a custom policy's
 * wildcard), the resource URL is built with each request's own query, not
 * the stored one. */
#include "edge/edge_internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define SIGNQ_SHARDS 8
#define SIGNQ_SLOTS 256 /* per shard (power of two): 2048 queries */
#define SIGNQ_QUERY_MAX 4096
#define SIGNQ_TTL_MS (10 * 60 * 1000)

typedef struct {
    char *query; /* heap, the key; NULL = empty slot */
    size_t qlen;
    uint64_t hash;
    int64_t until_ms;
    uint64_t gen;
    char kpid[EDGE_KEY_ID_MAX + 1];
    int64_t expires;     /* canned */
    char *url;           /* canned: the resource URL signed (heap) */
    edge_policy *policy; /* custom (heap) */
    char *rest;          /* the query without signing parameters (heap) */
} signq_slot;

typedef struct {
    pthread_rwlock_t lk;
    _Atomic uint64_t hits, misses;
    signq_slot s[SIGNQ_SLOTS];
} signq_shard;

struct edge_signq {
    signq_shard sh[SIGNQ_SHARDS];
};

edge_signq *edge_signq_new(void)
{
    edge_signq *q = calloc(1, sizeof *q);
    for (int i = 0; q && i < SIGNQ_SHARDS; i++)
        pthread_rwlock_init(&q->sh[i].lk, NULL);
    return q;
}

static void slot_clear(signq_slot *x)
{
    free(x->query);
    free(x->url);
    free(x->policy);
    free(x->rest);
    memset(x, 0, sizeof *x);
}

void edge_signq_free(edge_signq *q)
{
    if (!q)
        return;
    for (int i = 0; i < SIGNQ_SHARDS; i++) {
        for (int j = 0; j < SIGNQ_SLOTS; j++)
            slot_clear(&q->sh[i].s[j]);
        pthread_rwlock_destroy(&q->sh[i].lk);
    }
    free(q);
}

/* 8 bytes a step: a signed query is hundreds of bytes and this runs on
 * every signed request (FNV-style mixing; collisions only cost a miss). */
static uint64_t query_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    uint64_t w = 0;
    memcpy(&w, s + i, n - i);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 32;
    return h * 0x9e3779b97f4a7c15ull;
}

static signq_shard *shard_of(edge_signq *q, uint64_t h) { return &q->sh[h >> 61]; }
static signq_slot *slot_of(signq_shard *sh, uint64_t h) { return &sh->s[h & (SIGNQ_SLOTS - 1)]; }

/* Under the shard lock: the conditions of a live entry x against rq. */
static int decide(const signq_slot *x, const edge_signq_req *rq, const char **why)
{
    char url[EDGE_RESOURCE_MAX];
    int cookie = x->query[0] == '\x01';
    if (cookie != (rq->rest != NULL))
        return EDGE_SIGNQ_MISS;
    if (edge_signed_url(url, sizeof url, rq->secure, rq->host, rq->host_len, rq->path,
                        rq->path_len, cookie ? rq->rest : x->rest) < 0)
        return EDGE_SIGNQ_MISS;
    if (x->policy)
        return edge_policy_check(x->policy, url, rq->ip, rq->now, why);
    if (strcmp(url, x->url) != 0) /* a canned signature covers one URL only */
        return EDGE_SIGNQ_MISS;
    if (rq->now >= x->expires) {
        *why = "Access denied: the signed URL has expired";
        return -1;
    }
    return 0;
}

int edge_signq_check(edge_signq *q, const char *query, size_t qlen, const edge_signq_req *rq,
                     char kpid[EDGE_KEY_ID_MAX + 1], uint64_t *gen, const char **why)
{
    if (!q || qlen == 0 || qlen > SIGNQ_QUERY_MAX)
        return EDGE_SIGNQ_MISS;
    uint64_t h = query_hash(query, qlen);
    signq_shard *sh = shard_of(q, h);
    int rc = EDGE_SIGNQ_MISS;
    pthread_rwlock_rdlock(&sh->lk);
    signq_slot *x = slot_of(sh, h);
    if (x->query && x->hash == h && x->qlen == qlen && memcmp(x->query, query, qlen) == 0 &&
        x->until_ms > ct_mono_ms()) {
        rc = decide(x, rq, why);
        memcpy(kpid, x->kpid, sizeof x->kpid);
        *gen = x->gen;
    }
    pthread_rwlock_unlock(&sh->lk);
    atomic_fetch_add_explicit(rc == EDGE_SIGNQ_MISS ? &sh->misses : &sh->hits, 1,
                              memory_order_relaxed);
    return rc;
}

void edge_signq_put(edge_signq *q, const char *query, size_t qlen, const edge_signed *s,
                    const char *rest, const char *url, const edge_policy *p, uint64_t gen)
{
    if (!q || qlen == 0 || qlen > SIGNQ_QUERY_MAX || s->bad || !s->present ||
        (!s->policy && !url) || (s->policy && !p))
        return;
    signq_slot n;
    memset(&n, 0, sizeof n);
    n.query = malloc(qlen + 1);
    n.rest = strdup(rest ? rest : "");
    if (s->policy) {
        if ((n.policy = malloc(sizeof *n.policy)))
            memcpy(n.policy, p, sizeof *p);
    } else {
        n.url = strdup(url);
    }
    if (!n.query || !n.rest || (s->policy ? !n.policy : !n.url)) {
        slot_clear(&n);
        return;
    }
    memcpy(n.query, query, qlen);
    n.query[qlen] = '\0';
    n.qlen = qlen;
    n.hash = query_hash(query, qlen);
    n.until_ms = ct_mono_ms() + SIGNQ_TTL_MS;
    n.gen = gen;
    n.expires = s->expires;
    memcpy(n.kpid, s->key_pair_id, sizeof n.kpid);
    signq_shard *sh = shard_of(q, n.hash);
    pthread_rwlock_wrlock(&sh->lk);
    signq_slot *x = slot_of(sh, n.hash);
    signq_slot old = *x;
    *x = n;
    pthread_rwlock_unlock(&sh->lk);
    slot_clear(&old);
}

size_t edge_signq_cookie_key(char *out, size_t cap, const char *policy, const char *sig,
                             const char *kpid, const char *expires, const char *hash)
{
    const char *v[] = {policy, sig, kpid, expires, hash};
    size_t n = 0;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        size_t l = v[i] ? strlen(v[i]) : 0;
        if (n + l + 3 > cap || (v[i] && strchr(v[i], '\x01')))
            return 0;
        out[n++] = '\x01';
        out[n++] = v[i] ? 'v' : '-'; /* absent and empty differ */
        memcpy(out + n, v[i] ? v[i] : "", l);
        n += l;
    }
    out[n] = '\0';
    return n;
}

void edge_signq_stats(edge_signq *q, uint64_t *hits, uint64_t *misses)
{
    *hits = *misses = 0;
    for (int i = 0; q && i < SIGNQ_SHARDS; i++) {
        *hits += atomic_load_explicit(&q->sh[i].hits, memory_order_relaxed);
        *misses += atomic_load_explicit(&q->sh[i].misses, memory_order_relaxed);
    }
}
