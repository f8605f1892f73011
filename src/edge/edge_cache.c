/* edge_cache.c: the edge's metadata cache.
 *
 * What is cached: the origin's metadata row of an object (blob id, ETag,
 * size, type, mtime, stored headers), keyed on distribution id + decoded
 * object key (the normalised path: no query, so signing parameters never
 * enter the key). Bytes are not cached: the origin is local and the bytes
 * already leave through pread()/sendfile() of the blob; what a hit saves is
 * the SQLite read (a process-wide mutex) and the row copy. Ranges, HEAD and
 * conditionals are answered from the cached row like from a fresh one.
 *
 * Freshness: TTL = s-maxage / max-age of the object's stored Cache-Control,
 * else the distribution's DefaultTTL, clamped to [MinTTL, MaxTTL];
 * no-store / no-cache / private mean MinTTL. TTL 0 is not cached. An
 * origin's error (404, 403, an unreadable origin = 502) is cached only when
 * the distribution has a CustomErrorResponse for that code with an
 * ErrorCachingMinTTL > 0 (CloudFront's default there is 10 s; without one
 * nothing is cached, unlike CloudFront's blanket 10 s, so a fixed origin is
 * seen at once). Signature and viewer-policy 403s are decided before this
 * cache and never enter it. A hit whose blob has gone (the
 * object was overwritten or deleted) is dropped and read again. For a
 * remote origin a miss here first asks the disk cache, which keeps each
 * object's row with its bytes (and across restarts): a fresh one there is
 * a hit with the time it has left, without an origin HEAD.
 *
 * Bounded: at most max_bytes of entries (row + strings), evicted in
 * least-recently-used order approximated by CLOCK: a hit only marks its
 * entry used, and eviction gives a used tail entry a second chance at the
 * head instead of dropping it.
 * Coalescing: the first miss on a key marks it pending; concurrent misses on
 * the same key wait (bounded) for it and then take the cached row, so N
 * concurrent misses cost one origin read.
 * Locking: a hit takes only the read side of rw, so the server threads
 * never wait for each other on a hot key (with one mutex, a thread
 * preempted while copying a row out stalled the other thread and all its
 * connections: the 64-connection p99 was 1.5-2x nginx's). mu serialises
 * the miss path (pending keys, the condition variable, inserts); whatever
 * changes the table holds mu and the write side of rw. */
#include "edge/edge_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define NBUCKETS 16384
#define PENDING_MAX 256
#define COALESCE_WAIT_MS 2000

typedef struct centry {
    struct centry *hnext, *prev, *next; /* hash chain; LRU list (head = newest) */
    uint64_t hash;
    char *ckey;
    ct_meta_object o;   /* unused by an error entry */
    ct_err err;         /* CT_OK, or the origin's error kept (ErrorCachingMinTTL) */
    int64_t expires_ms; /* ct_mono_ms clock */
    size_t bytes;
    uint64_t epoch;     /* meta's write epoch when the row was read or last confirmed
                           (atomic: confirmed under the read lock) */
    int used;           /* hit since it was put at the head (atomic; CLOCK) */
} centry;

struct edge_cache {
    pthread_mutex_t mu;   /* the miss path; see Locking above */
    pthread_rwlock_t rw;  /* the table: read by hits, written under mu too */
    pthread_cond_t cv;
    centry *buckets[NBUCKETS];
    centry *head, *tail;
    size_t bytes, max_bytes, n;
    uint64_t inval_gen; /* bumped by every invalidation */
    char *pending[PENDING_MAX];
    edge_cache_stats stats; /* under mu, but hits (atomic) */
};

edge_cache *edge_cache_new(size_t max_bytes)
{
    edge_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_mutex_init(&c->mu, NULL);
    pthread_rwlockattr_t ra; /* glibc prefers readers: a miss's insert could starve */
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&c->rw, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    c->max_bytes = max_bytes;
    return c;
}

static void entry_free(centry *en)
{
    free(en->ckey);
    ct_meta_object_free(&en->o);
    free(en);
}

/* Unlinks from the hash chain and the LRU list; caller holds mu and the
 * write side of rw. */
static void unlink_entry(edge_cache *c, centry *en)
{
    centry **pp = &c->buckets[en->hash % NBUCKETS];
    while (*pp != en)
        pp = &(*pp)->hnext;
    *pp = en->hnext;
    if (en->prev)
        en->prev->next = en->next;
    else
        c->head = en->next;
    if (en->next)
        en->next->prev = en->prev;
    else
        c->tail = en->prev;
    c->bytes -= en->bytes;
    c->n--;
}

void edge_cache_free(edge_cache *c)
{
    if (!c)
        return;
    for (centry *en = c->head, *nx; en; en = nx) {
        nx = en->next;
        entry_free(en);
    }
    for (size_t i = 0; i < PENDING_MAX; i++)
        free(c->pending[i]);
    pthread_cond_destroy(&c->cv);
    pthread_rwlock_destroy(&c->rw);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static int obj_copy(ct_meta_object *dst, const ct_meta_object *src)
{
    *dst = *src;
    dst->bucket = src->bucket ? strdup(src->bucket) : NULL;
    dst->key = src->key ? strdup(src->key) : NULL;
    dst->content_type = src->content_type ? strdup(src->content_type) : NULL;
    dst->meta_json = src->meta_json ? strdup(src->meta_json) : NULL;
    /* an inline object's bytes too: the row is all a hit serves from */
    dst->inline_data = src->inline_data ? malloc(src->inline_len ? src->inline_len : 1) : NULL;
    if (dst->inline_data)
        memcpy(dst->inline_data, src->inline_data, src->inline_len);
    if ((src->bucket && !dst->bucket) || (src->key && !dst->key) ||
        (src->content_type && !dst->content_type) || (src->meta_json && !dst->meta_json) ||
        (src->inline_data && !dst->inline_data)) {
        ct_meta_object_free(dst);
        return -1;
    }
    return 0;
}

static size_t slen(const char *s) { return s ? strlen(s) + 1 : 0; }

/* ---- TTL ---- */

static int64_t directive(const char *cc, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = cc; (p = strcasestr(p, name)); p += n) {
        if ((p == cc || p[-1] == ' ' || p[-1] == ',') && p[n] == '=')
            return strtoll(p + n + 1, NULL, 10);
    }
    return -1;
}

int64_t edge_cache_ttl(const edge_dist *d, const ct_meta_object *o)
{
    int64_t ttl = d->default_ttl;
    json_t *j = o->meta_json ? json_loads(o->meta_json, 0, NULL) : NULL;
    const char *k, *cc = NULL;
    json_t *v;
    json_object_foreach(j, k, v)
    {
        if (strcasecmp(k, "cache-control") == 0)
            cc = json_string_value(v);
    }
    if (cc) {
        int64_t s = directive(cc, "s-maxage"), m = directive(cc, "max-age");
        if (strcasestr(cc, "no-store") || strcasestr(cc, "no-cache") || strcasestr(cc, "private"))
            ttl = d->min_ttl;
        else if (s >= 0)
            ttl = s;
        else if (m >= 0)
            ttl = m;
    }
    json_decref(j);
    if (ttl < d->min_ttl)
        ttl = d->min_ttl;
    if (ttl > d->max_ttl)
        ttl = d->max_ttl;
    return ttl;
}

int edge_error_status(ct_err err)
{
    if (err == CT_ERR_NOT_FOUND)
        return 404;
    if (err == CT_ERR_DENIED)
        return 403;
    return err == CT_ERR_IO ? 502 : 0; /* an origin that could not be read */
}

int64_t edge_error_ttl(const edge_dist *d, ct_err err)
{
    int status = edge_error_status(err);
    for (size_t i = 0; status && i < d->n_errors; i++)
        if (d->errors[i].code == status)
            return d->errors[i].caching_min_ttl;
    return 0;
}

/* ---- lookup ---- */

/* The entry of ckey, fresh or not, or NULL; caller holds mu or rw. */
static centry *entry_of(edge_cache *c, const char *ckey, uint64_t h)
{
    centry *en = c->buckets[h % NBUCKETS];
    while (en && (en->hash != h || strcmp(en->ckey, ckey) != 0))
        en = en->hnext;
    return en;
}

/* A fresh entry's row copied to out (1; *err its kept error, out then
 * untouched), else 0; marks it used. Caller holds mu or rw (either side). */
static int find_fresh(edge_cache *c, const char *ckey, uint64_t h, ct_meta_object *out,
                      ct_err *err)
{
    centry *en = entry_of(c, ckey, h);
    if (!en || ct_mono_ms() >= en->expires_ms)
        return 0;
    __atomic_store_n(&en->used, 1, __ATOMIC_RELAXED);
    *err = en->err;
    return en->err || obj_copy(out, &en->o) == 0;
}

/* find_fresh on the miss path (caller holds mu): an expired entry is dropped. */
static int find_locked(edge_cache *c, const char *ckey, uint64_t h, ct_meta_object *out,
                       ct_err *err)
{
    centry *en = entry_of(c, ckey, h);
    if (en && ct_mono_ms() >= en->expires_ms) {
        pthread_rwlock_wrlock(&c->rw);
        unlink_entry(c, en);
        pthread_rwlock_unlock(&c->rw);
        entry_free(en);
        return 0;
    }
    return find_fresh(c, ckey, h, out, err);
}

/* Puts en at the head of the LRU list (caller holds mu and rw's write side). */
static void to_head(edge_cache *c, centry *en)
{
    if (en == c->head)
        return;
    en->prev->next = en->next;
    if (en->next)
        en->next->prev = en->prev;
    else
        c->tail = en->prev;
    en->prev = NULL;
    en->next = c->head;
    c->head->prev = en;
    c->head = en;
}

/* Keeps o, or with o NULL the origin's error err, for ttl_s seconds.
 * Caller holds mu. */
static void insert_locked(edge_cache *c, const char *ckey, uint64_t h, const ct_meta_object *o,
                          ct_err err, int64_t ttl_s, uint64_t epoch)
{
    static const ct_meta_object none;
    centry *en = calloc(1, sizeof *en);
    if (!o)
        o = &none;
    if (!en || !(en->ckey = strdup(ckey)) || obj_copy(&en->o, o)) {
        if (en)
            free(en->ckey);
        free(en);
        return;
    }
    en->hash = h;
    en->err = err;
    en->epoch = epoch;
    en->expires_ms = ct_mono_ms() + ttl_s * 1000;
    en->bytes = sizeof *en + slen(ckey) + slen(o->bucket) + slen(o->key) +
                slen(o->content_type) + slen(o->meta_json) + o->inline_len;
    pthread_rwlock_wrlock(&c->rw);
    centry *old = entry_of(c, ckey, h);
    if (old) /* replace */
        unlink_entry(c, old);
    centry *evicted = NULL;
    /* Room first (CLOCK: a used tail entry goes back to the head, once per
     * pass); an entry larger than the whole bound is still kept alone. */
    for (size_t chances = c->n; c->bytes + en->bytes > c->max_bytes && c->tail;) {
        centry *lru = c->tail;
        if (chances && __atomic_exchange_n(&lru->used, 0, __ATOMIC_RELAXED)) {
            chances--;
            to_head(c, lru);
            continue;
        }
        unlink_entry(c, lru);
        lru->hnext = evicted;
        evicted = lru;
        c->stats.evictions++;
    }
    en->hnext = c->buckets[h % NBUCKETS];
    c->buckets[h % NBUCKETS] = en;
    en->next = c->head;
    if (c->head)
        c->head->prev = en;
    c->head = en;
    if (!c->tail)
        c->tail = en;
    c->bytes += en->bytes;
    c->n++;
    pthread_rwlock_unlock(&c->rw);
    if (old)
        entry_free(old);
    while (evicted) { /* freed outside rw: nobody can reach them now */
        centry *nx = evicted->hnext;
        entry_free(evicted);
        evicted = nx;
    }
}

static int pending_find(edge_cache *c, const char *ckey)
{
    for (int i = 0; i < PENDING_MAX; i++)
        if (c->pending[i] && strcmp(c->pending[i], ckey) == 0)
            return i;
    return -1;
}

/* Waits while another request reads ckey; 1 when the wait ended that way. */
static int wait_pending(edge_cache *c, const char *ckey)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += COALESCE_WAIT_MS / 1000;
    int waited = 0;
    while (pending_find(c, ckey) >= 0) {
        waited = 1;
        if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT)
            break;
    }
    return waited;
}

int edge_cache_peek(ct_edge *e, const edge_dist *d, const char *key, char *etag, size_t n)
{
    edge_cache *c = e->cache;
    char *ckey = c ? malloc(EDGE_ID_LEN + 2 + strlen(key)) : NULL;
    if (!ckey)
        return 0;
    strcpy(ckey, d->id);
    strcat(ckey, "/");
    strcat(ckey, key);
    ct_meta_object o;
    memset(&o, 0, sizeof o);
    ct_err kept = CT_OK;
    pthread_rwlock_rdlock(&c->rw);
    int found = find_fresh(c, ckey, ct_fnv1a(ckey), &o, &kept);
    pthread_rwlock_unlock(&c->rw);
    if (found)
        snprintf(etag, n, "%s", kept ? "" : o.etag);
    ct_meta_object_free(&o);
    free(ckey);
    return found;
}

ct_err edge_cache_lookup(ct_edge *e, const edge_dist *d, const char *key, ct_meta_object *out,
                         int *hit)
{
    edge_cache *c = e->cache;
    *hit = 0;
    if (!c)
        return edge_origin_head(e, d, key, out);
    char *ckey = malloc(EDGE_ID_LEN + 2 + strlen(key));
    if (!ckey)
        return CT_ERR_NOMEM;
    strcpy(ckey, d->id);
    strcat(ckey, "/");
    strcat(ckey, key);
    uint64_t h = ct_fnv1a(ckey);
    int slot = -1;
    ct_err kept = CT_OK;
    pthread_rwlock_rdlock(&c->rw); /* a hit needs no more */
    int found = find_fresh(c, ckey, h, out, &kept);
    pthread_rwlock_unlock(&c->rw);
    if (found) {
        *hit = 1;
        __atomic_fetch_add(&c->stats.hits, 1, __ATOMIC_RELAXED);
        free(ckey);
        return kept;
    }
    pthread_mutex_lock(&c->mu);
    found = find_locked(c, ckey, h, out, &kept);
    if (!found && wait_pending(c, ckey) && (found = find_locked(c, ckey, h, out, &kept)))
        c->stats.coalesced++;
    if (found) {
        *hit = 1;
        __atomic_fetch_add(&c->stats.hits, 1, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&c->mu);
        free(ckey);
        return kept;
    }
    c->stats.misses++;
    for (int i = 0; i < PENDING_MAX && slot < 0; i++)
        if (!c->pending[i])
            slot = i;
    if (slot >= 0)
        c->pending[slot] = ckey; /* owned by the table until the read ends */
    uint64_t gen = c->inval_gen;
    pthread_mutex_unlock(&c->mu);
    uint64_t epoch = e->meta ? ct_meta_write_epoch(e->meta) : 0; /* before the read */

    /* A remote origin's row may still be kept with the bytes on disk (after
     * a restart, or an eviction here): the same TTL, no origin read. */
    int64_t ttl = 0;
    ct_err err = CT_OK;
    if (edge_disk_row(e->disk, ckey, out, &ttl))
        *hit = 1;
    else if (!(err = edge_origin_head(e, d, key, out)))
        ttl = edge_cache_ttl(d, out);
    else
        ttl = edge_error_ttl(d, err);

    pthread_mutex_lock(&c->mu);
    if (*hit) { /* counted as a hit, not a miss */
        c->stats.misses--;
        __atomic_fetch_add(&c->stats.hits, 1, __ATOMIC_RELAXED);
    }
    if (ttl > 0 && gen == c->inval_gen) /* else an invalidation may have meant this read */
        insert_locked(c, ckey, h, err ? NULL : out, err, ttl, epoch);
    if (slot >= 0)
        c->pending[slot] = NULL;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    free(ckey);
    return err;
}

/* The entry of (d, key) under rw (either side), or NULL; ckey is freed. */
static centry *entry_locked(edge_cache *c, char *ckey)
{
    centry *en = entry_of(c, ckey, ct_fnv1a(ckey));
    free(ckey);
    return en;
}

static char *ckey_of(const edge_dist *d, const char *key)
{
    char *ckey = malloc(EDGE_ID_LEN + 2 + strlen(key));
    if (ckey) {
        strcpy(ckey, d->id);
        strcat(ckey, "/");
        strcat(ckey, key);
    }
    return ckey;
}

int edge_cache_row_fresh(ct_edge *e, const edge_dist *d, const char *key)
{
    uint64_t now = e->meta ? ct_meta_write_epoch(e->meta) : 0;
    char *ckey = now && e->cache ? ckey_of(d, key) : NULL;
    if (!ckey)
        return 0;
    pthread_rwlock_rdlock(&e->cache->rw);
    centry *en = entry_locked(e->cache, ckey);
    int fresh = en && __atomic_load_n(&en->epoch, __ATOMIC_RELAXED) == now;
    pthread_rwlock_unlock(&e->cache->rw);
    return fresh;
}

void edge_cache_confirm(ct_edge *e, const edge_dist *d, const char *key, uint64_t epoch)
{
    char *ckey = epoch && e->cache ? ckey_of(d, key) : NULL;
    if (!ckey)
        return;
    pthread_rwlock_rdlock(&e->cache->rw);
    centry *en = entry_locked(e->cache, ckey);
    if (en)
        __atomic_store_n(&en->epoch, epoch, __ATOMIC_RELAXED);
    pthread_rwlock_unlock(&e->cache->rw);
}

int edge_ckey_invalidated(const char *ckey, const char *dist_id, const char *key, int prefix)
{
    size_t il = strlen(dist_id);
    if (strncmp(ckey, dist_id, il) != 0 || ckey[il] != '/')
        return 0;
    const char *k = ckey + il + 1;
    return prefix ? strncmp(k, key, strlen(key)) == 0 : strcmp(k, key) == 0;
}

void edge_cache_invalidate(edge_cache *c, const char *dist_id, const char *key, int prefix)
{
    if (!c)
        return;
    centry *gone = NULL;
    pthread_mutex_lock(&c->mu);
    pthread_rwlock_wrlock(&c->rw);
    c->inval_gen++;
    for (centry *en = c->head, *nx; en; en = nx) {
        nx = en->next;
        if (edge_ckey_invalidated(en->ckey, dist_id, key, prefix)) {
            unlink_entry(c, en);
            en->hnext = gone;
            gone = en;
            c->stats.invalidated++;
        }
    }
    pthread_rwlock_unlock(&c->rw);
    pthread_mutex_unlock(&c->mu);
    while (gone) {
        centry *nx = gone->hnext;
        entry_free(gone);
        gone = nx;
    }
}

void edge_cache_get_stats(edge_cache *c, edge_cache_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    *out = c->stats;
    out->hits = __atomic_load_n(&c->stats.hits, __ATOMIC_RELAXED);
    out->entries = c->n;
    out->bytes = c->bytes;
    pthread_mutex_unlock(&c->mu);
}

void edge_invalidate(ct_edge *e, const char *dist_id, const char *key, int prefix)
{
    edge_cache_invalidate(e->cache, dist_id, key, prefix);
    edge_disk_invalidate(e->disk, dist_id, key, prefix);
    edge_gzcache_invalidate(e->gz, dist_id, key, prefix);
}
