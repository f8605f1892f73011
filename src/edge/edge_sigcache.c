/* edge_sigcache.c: the signature-verification cache of signed URLs and
 * cookies.
 *
 * DESIGN: a player fetches hundreds of segments with the same signed query
 * or cookies, and each would cost an RSA verify. Only the signature check is
 * cached, never the decision: a request's policy (expiry, DateGreaterThan,
 * IpAddress, resource) is evaluated every time before the cache is asked,
 * and the key must still be trusted by the distribution's key groups.
 * Entries are keyed by SHA-256 over (key id, hash algorithm, signed text,
 * signature) and carry the keyring generation: any key or key-group change
 * (edge_keys_reload / sync) retires every entry. Only successful checks are
 * stored (a failure is never cached, so nothing can poison it), for at most
 * SIGCACHE_TTL_MS; bounded at SIGCACHE_ENTRIES with LRU eviction. */
#include "edge/edge_internal.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define SIGCACHE_ENTRIES 4096
#define SIGCACHE_BUCKETS 8192 /* power of two */
#define SIGCACHE_TTL_MS (10 * 60 * 1000)

typedef struct {
    unsigned char digest[32];
    uint64_t gen;
    int64_t until_ms;
    int next;          /* bucket chain */
    int lru_prev, lru_next;
    int used;
} sig_entry;

struct edge_sigcache {
    pthread_mutex_t mu;
    int buckets[SIGCACHE_BUCKETS];
    sig_entry e[SIGCACHE_ENTRIES];
    int lru_head, lru_tail; /* head = most recent */
    int n_used;
    uint64_t hits, misses;
};

edge_sigcache *edge_sigcache_new(void)
{
    edge_sigcache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_mutex_init(&c->mu, NULL);
    for (int i = 0; i < SIGCACHE_BUCKETS; i++)
        c->buckets[i] = -1;
    c->lru_head = c->lru_tail = -1;
    return c;
}

void edge_sigcache_free(edge_sigcache *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static void fetch_sha256(void) { sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL); }

int edge_sigcache_digest(const char *key_id, int sha256, const char *text, size_t len,
                         const unsigned char *sig, size_t sig_len, unsigned char out[32])
{
    /* One buffer, one EVP_Digest with the digest fetched once: this runs on
     * every signed request, the verify it replaces only on a miss. */
    unsigned char buf[EDGE_KEY_ID_MAX + 32 + EDGE_RESOURCE_MAX + 160 + EDGE_POLICY_MAX +
                      EDGE_SIG_MAX];
    uint64_t lens[3] = {strlen(key_id), (uint64_t)len, (uint64_t)sig_len};
    size_t need = sizeof lens + 1 + lens[0] + len + sig_len;
    pthread_once(&sha256_once, fetch_sha256);
    if (!sha256_md || need > sizeof buf)
        return -1;
    size_t o = 0;
    memcpy(buf, lens, sizeof lens);
    o += sizeof lens;
    buf[o++] = sha256 ? 2 : 1;
    memcpy(buf + o, key_id, lens[0]);
    o += lens[0];
    memcpy(buf + o, text, len);
    o += len;
    memcpy(buf + o, sig, sig_len);
    o += sig_len;
    return EVP_Digest(buf, o, out, NULL, sha256_md, NULL) == 1 ? 0 : -1;
}

static unsigned bucket_of(const unsigned char d[32])
{
    unsigned h;
    memcpy(&h, d, sizeof h);
    return h & (SIGCACHE_BUCKETS - 1);
}

static void lru_unlink(edge_sigcache *c, int i)
{
    sig_entry *x = &c->e[i];
    if (x->lru_prev >= 0)
        c->e[x->lru_prev].lru_next = x->lru_next;
    else
        c->lru_head = x->lru_next;
    if (x->lru_next >= 0)
        c->e[x->lru_next].lru_prev = x->lru_prev;
    else
        c->lru_tail = x->lru_prev;
}

static void lru_push(edge_sigcache *c, int i)
{
    sig_entry *x = &c->e[i];
    x->lru_prev = -1;
    x->lru_next = c->lru_head;
    if (c->lru_head >= 0)
        c->e[c->lru_head].lru_prev = i;
    c->lru_head = i;
    if (c->lru_tail < 0)
        c->lru_tail = i;
}

static void chain_remove(edge_sigcache *c, int i)
{
    int *pp = &c->buckets[bucket_of(c->e[i].digest)];
    while (*pp >= 0 && *pp != i)
        pp = &c->e[*pp].next;
    if (*pp == i)
        *pp = c->e[i].next;
}

static int find(edge_sigcache *c, const unsigned char d[32])
{
    for (int i = c->buckets[bucket_of(d)]; i >= 0; i = c->e[i].next)
        if (memcmp(c->e[i].digest, d, 32) == 0)
            return i;
    return -1;
}

int edge_sigcache_check(edge_sigcache *c, const unsigned char d[32], uint64_t gen)
{
    if (!c)
        return 0;
    int64_t now = ct_mono_ms();
    pthread_mutex_lock(&c->mu);
    int i = find(c, d), ok = 0;
    if (i >= 0 && c->e[i].gen == gen && c->e[i].until_ms > now) {
        ok = 1;
        lru_unlink(c, i);
        lru_push(c, i);
        c->hits++;
    } else {
        c->misses++;
    }
    pthread_mutex_unlock(&c->mu);
    return ok;
}

void edge_sigcache_put(edge_sigcache *c, const unsigned char d[32], uint64_t gen)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    int i = find(c, d);
    if (i >= 0) {
        lru_unlink(c, i);
    } else if (c->n_used < SIGCACHE_ENTRIES) {
        i = c->n_used++;
        c->e[i].used = 1;
    } else {
        i = c->lru_tail; /* evict the least recently used */
        lru_unlink(c, i);
        chain_remove(c, i);
    }
    if (!c->e[i].used || find(c, d) != i) {
        memcpy(c->e[i].digest, d, 32);
        c->e[i].next = c->buckets[bucket_of(d)];
        c->buckets[bucket_of(d)] = i;
        c->e[i].used = 1;
    }
    c->e[i].gen = gen;
    c->e[i].until_ms = ct_mono_ms() + SIGCACHE_TTL_MS;
    lru_push(c, i);
    pthread_mutex_unlock(&c->mu);
}

void edge_sigcache_stats(edge_sigcache *c, uint64_t *hits, uint64_t *misses)
{
    *hits = *misses = 0;
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    *hits = c->hits;
    *misses = c->misses;
    pthread_mutex_unlock(&c->mu);
}
