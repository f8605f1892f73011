/* meta_bcache.c: bucket rows kept in memory (SQLite).
 *
 * DESIGN: every PutObject looks its bucket up (existence, notification
 * configuration) before it reads the body. While objects are being written,
 * a pooled reader takes a new snapshot for each lookup and SQLite drops its
 * page cache with it (the WAL moved), so the lookup re-read page 1 and the
 * bucket's pages: ~7 % of a 4 KiB PUT's CPU at 16 clients. Buckets change
 * rarely, so their rows are kept here, valid while word META_WORD_BUCKETS
 * of the database's shared page (ct_db_shared_word: mapped by every process
 * using the file) is what it was before the row was read. Every bucket
 * write (create, delete, notification, policy) bumps that word after its
 * commit and before it returns, so a lookup that starts after a write has
 * returned, in any process, misses and reads the new row. A writer killed
 * between its commit and the bump, or one that is not CatTube, is seen when
 * the entry ages out (META_BCACHE_MS). Missing buckets are kept too (a PUT
 * to a bucket about to be created misses once the create returns). Without
 * the shared page (PostgreSQL, or it could not be mapped) nothing is kept. */
#include "meta/meta_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define META_BCACHE_SLOTS 64 /* direct-mapped by name */
#define META_BCACHE_MS 1000

typedef struct {
    int used, missing;
    uint64_t gen;
    int64_t at_ms;
    ct_meta_bucket b; /* name set even when missing */
} bslot;

struct meta_bcache {
    pthread_mutex_t mu;
    bslot slot[META_BCACHE_SLOTS];
};

void meta_bcache_init(ct_meta *m)
{
    if (!ct_db_has_shared(m->db))
        return;
    struct meta_bcache *c = calloc(1, sizeof *c);
    if (!c)
        return; /* no cache: every lookup reads */
    pthread_mutex_init(&c->mu, NULL);
    m->bcache = c;
}

void meta_bcache_free(ct_meta *m)
{
    struct meta_bcache *c = m->bcache;
    if (!c)
        return;
    for (int i = 0; i < META_BCACHE_SLOTS; i++)
        ct_meta_bucket_free(&c->slot[i].b);
    pthread_mutex_destroy(&c->mu);
    free(c);
    m->bcache = NULL;
}

static bslot *slot_of(struct meta_bcache *c, const char *name)
{
    return &c->slot[ct_fnv1a(name) % META_BCACHE_SLOTS];
}

static char *dup_or_null(const char *s, int *failed)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *failed = 1;
    return d;
}

/* A copy of src in dst (strings duplicated); -1 when out of memory. */
static int bucket_copy(ct_meta_bucket *dst, const ct_meta_bucket *src)
{
    int failed = 0;
    memcpy(dst->name, src->name, sizeof dst->name);
    dst->created_ms = src->created_ms;
    dst->notification_json = dup_or_null(src->notification_json, &failed);
    dst->policy_json = dup_or_null(src->policy_json, &failed);
    if (failed)
        ct_meta_bucket_free(dst);
    return failed ? -1 : 0;
}

uint64_t meta_bcache_gen(ct_meta *m)
{
    return m->bcache ? ct_db_shared_word(m->db, META_WORD_BUCKETS) : 0;
}

int meta_bcache_get(ct_meta *m, const char *name, uint64_t gen, ct_meta_bucket *out,
                    ct_err *err)
{
    struct meta_bcache *c = m->bcache;
    if (!c)
        return 0;
    int hit = 0;
    pthread_mutex_lock(&c->mu);
    bslot *s = slot_of(c, name);
    if (s->used && s->gen == gen && ct_mono_ms() - s->at_ms < META_BCACHE_MS &&
        strcmp(s->b.name, name) == 0) {
        hit = 1;
        *err = s->missing ? CT_ERR_NOT_FOUND : CT_OK;
        if (!s->missing && bucket_copy(out, &s->b))
            hit = 0; /* out of memory: read it instead */
    }
    pthread_mutex_unlock(&c->mu);
    return hit;
}

void meta_bcache_put(ct_meta *m, const char *name, uint64_t gen, const ct_meta_bucket *b)
{
    struct meta_bcache *c = m->bcache;
    if (!c || strlen(name) >= sizeof c->slot[0].b.name)
        return;
    ct_meta_bucket copy;
    memset(&copy, 0, sizeof copy);
    if (b && bucket_copy(&copy, b))
        return;
    snprintf(copy.name, sizeof copy.name, "%s", name);
    pthread_mutex_lock(&c->mu);
    bslot *s = slot_of(c, name);
    ct_meta_bucket old = s->b;
    s->b = copy;
    s->used = 1;
    s->missing = b == NULL;
    s->gen = gen;
    s->at_ms = ct_mono_ms();
    pthread_mutex_unlock(&c->mu);
    ct_meta_bucket_free(&old);
}

void meta_buckets_changed(ct_meta *m) { ct_db_shared_bump(m->db, META_WORD_BUCKETS); }
