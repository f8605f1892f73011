/* edge_disk.c: the edge's on-disk cache of object bytes, under
 * DATA/edge-cache.
 *
 * DESIGN: what remote origins are served from. Local origins already have
 * their bytes on this disk (blob fds, sendfile), so only a remote origin
 * fills this cache. An entry is one file holding the whole object, keyed on
 * distribution id + object key and tagged with the origin's ETag; a hit
 * hands out an open fd, so the range, gzip and TLS paths are those of local
 * blobs, and an entry evicted or replaced while a response streams stays
 * readable through its fd.
 *   - bounded: at most max_bytes of files; least recently used entries are
 *     evicted (their files unlinked) to make room. An object larger than the
 *     whole cache is streamed once from a temp file and not kept.
 *   - fresh: an entry lives for the TTL the metadata cache computed (object
 *     Cache-Control, the behavior's TTLs) and only while the origin's ETag is
 *     the same; invalidations drop entries by key or prefix.
 *   - coalesced: the first miss on a key fetches it; concurrent misses on
 *     the same key wait for that fetch (bounded) and then share the file, so
 *     many viewers of a new segment cause one origin GET.
 * The index is in memory: the directory is emptied at start (a restart
 * begins cold, which never serves a stale file). Files are named by a
 * sequence number; keys never reach the filesystem. */
#include "edge/edge_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DK_BUCKETS 4096
#define DK_PENDING_MAX 64
#define DK_WAIT_MS 30000

typedef struct dentry {
    struct dentry *hnext, *prev, *next; /* hash chain; LRU (head = newest) */
    uint64_t hash;
    char *ckey;
    char etag[80];
    uint64_t seq, size;
    int64_t expires_ms; /* ct_mono_ms clock */
} dentry;

struct edge_disk {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *dir;
    dentry *buckets[DK_BUCKETS];
    dentry *head, *tail;
    uint64_t bytes, max_bytes, seq;
    char *pending[DK_PENDING_MAX];
    edge_disk_stats stats;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void path_of(const edge_disk *dk, uint64_t seq, const char *tag, char *out, size_t n)
{
    snprintf(out, n, "%s/%s%016llx", dk->dir, tag, (unsigned long long)seq);
}

/* Removes every file of a previous run. */
static void empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char p[4096];
    while ((de = readdir(d)))
        if (de->d_name[0] != '.') {
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            unlink(p);
        }
    closedir(d);
}

edge_disk *edge_disk_open(const char *data_dir, uint64_t max_bytes)
{
    edge_disk *dk = calloc(1, sizeof *dk);
    if (!dk || asprintf(&dk->dir, "%s/edge-cache", data_dir ? data_dir : ".") < 0) {
        free(dk);
        return NULL;
    }
    if (mkdir(dk->dir, 0700) && errno != EEXIST) {
        ct_error("edge: cannot create %s: %s", dk->dir, strerror(errno));
        free(dk->dir);
        free(dk);
        return NULL;
    }
    empty_dir(dk->dir);
    pthread_mutex_init(&dk->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&dk->cv, &ca);
    pthread_condattr_destroy(&ca);
    dk->max_bytes = max_bytes;
    return dk;
}

static void unlink_entry(edge_disk *dk, dentry *en)
{
    dentry **pp = &dk->buckets[en->hash % DK_BUCKETS];
    while (*pp != en)
        pp = &(*pp)->hnext;
    *pp = en->hnext;
    if (en->prev)
        en->prev->next = en->next;
    else
        dk->head = en->next;
    if (en->next)
        en->next->prev = en->prev;
    else
        dk->tail = en->prev;
    dk->bytes -= en->size;
}

/* Unlinks the entry and its file (open fds keep reading it). */
static void drop_entry(edge_disk *dk, dentry *en)
{
    char p[4096];
    unlink_entry(dk, en);
    path_of(dk, en->seq, "o", p, sizeof p);
    unlink(p);
    free(en->ckey);
    free(en);
}

void edge_disk_free(edge_disk *dk)
{
    if (!dk)
        return;
    while (dk->head)
        drop_entry(dk, dk->head);
    pthread_mutex_destroy(&dk->mu);
    pthread_cond_destroy(&dk->cv);
    free(dk->dir);
    free(dk);
}

static dentry *find_locked(edge_disk *dk, const char *ckey, uint64_t h)
{
    for (dentry *en = dk->buckets[h % DK_BUCKETS]; en; en = en->hnext)
        if (en->hash == h && strcmp(en->ckey, ckey) == 0)
            return en;
    return NULL;
}

static void to_front(edge_disk *dk, dentry *en)
{
    if (dk->head == en)
        return;
    en->prev->next = en->next;
    if (en->next)
        en->next->prev = en->prev;
    else
        dk->tail = en->prev;
    en->prev = NULL;
    en->next = dk->head;
    dk->head->prev = en;
    dk->head = en;
}

/* A fresh entry of ckey with etag, opened: 1 (fd, size set); else 0 (a
 * stale entry is dropped on the way). */
static int hit_locked(edge_disk *dk, const char *ckey, uint64_t h, const char *etag, int *fd,
                      uint64_t *size)
{
    dentry *en = find_locked(dk, ckey, h);
    if (!en)
        return 0;
    if (strcmp(en->etag, etag) || ct_mono_ms() >= en->expires_ms) {
        drop_entry(dk, en);
        return 0;
    }
    char p[4096];
    path_of(dk, en->seq, "o", p, sizeof p);
    *fd = open(p, O_RDONLY | O_CLOEXEC);
    if (*fd < 0) { /* removed behind our back */
        drop_entry(dk, en);
        return 0;
    }
    *size = en->size;
    to_front(dk, en);
    return 1;
}

static int pending_index(edge_disk *dk, const char *ckey)
{
    for (int i = 0; i < DK_PENDING_MAX; i++)
        if (dk->pending[i] && strcmp(dk->pending[i], ckey) == 0)
            return i;
    return -1;
}

/* Waits (bounded) while another thread fetches ckey. */
static void wait_pending(edge_disk *dk, const char *ckey)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += DK_WAIT_MS / 1000;
    while (pending_index(dk, ckey) >= 0)
        if (pthread_cond_timedwait(&dk->cv, &dk->mu, &until) == ETIMEDOUT)
            break;
}

/* Files the fetched temp file as ckey's entry (evicting LRU entries), or
 * when it cannot be kept leaves it unlinked behind the open fd. */
static void insert_locked(edge_disk *dk, const char *ckey, uint64_t h, const char *etag,
                          int64_t ttl_s, const char *tmp, uint64_t size)
{
    dentry *en = calloc(1, sizeof *en);
    char p[4096];
    if (!en || size > dk->max_bytes || ttl_s <= 0 || strlen(etag) >= sizeof en->etag ||
        !(en->ckey = strdup(ckey))) {
        free(en);
        unlink(tmp);
        return;
    }
    while (dk->tail && dk->bytes + size > dk->max_bytes) {
        drop_entry(dk, dk->tail);
        dk->stats.evictions++;
    }
    en->seq = ++dk->seq;
    path_of(dk, en->seq, "o", p, sizeof p);
    if (rename(tmp, p)) {
        unlink(tmp);
        free(en->ckey);
        free(en);
        return;
    }
    en->hash = h;
    snprintf(en->etag, sizeof en->etag, "%s", etag);
    en->size = size;
    en->expires_ms = ct_mono_ms() + ttl_s * 1000;
    en->hnext = dk->buckets[h % DK_BUCKETS];
    dk->buckets[h % DK_BUCKETS] = en;
    en->next = dk->head;
    if (dk->head)
        dk->head->prev = en;
    dk->head = en;
    if (!dk->tail)
        dk->tail = en;
    dk->bytes += size;
}

ct_err edge_disk_get(edge_disk *dk, const char *ckey, const char *etag, int64_t ttl_s,
                     edge_disk_fill_fn fill, void *ctx, int *fd, uint64_t *size, int *hit)
{
    uint64_t h = fnv1a(ckey);
    *fd = -1;
    *hit = 0;
    pthread_mutex_lock(&dk->mu);
    if (!hit_locked(dk, ckey, h, etag, fd, size) && pending_index(dk, ckey) >= 0) {
        wait_pending(dk, ckey);
        if (hit_locked(dk, ckey, h, etag, fd, size))
            dk->stats.coalesced++;
    }
    if (*fd >= 0) {
        dk->stats.hits++;
        *hit = 1;
        pthread_mutex_unlock(&dk->mu);
        return CT_OK;
    }
    dk->stats.misses++;
    int slot = -1;
    for (int i = 0; i < DK_PENDING_MAX && slot < 0; i++)
        if (!dk->pending[i])
            slot = i;
    char *mine = slot >= 0 ? strdup(ckey) : NULL;
    if (mine)
        dk->pending[slot] = mine;
    uint64_t seq = ++dk->seq;
    pthread_mutex_unlock(&dk->mu);

    char tmp[4096];
    path_of(dk, seq, "t", tmp, sizeof tmp);
    ct_err err = fill(ctx, tmp);
    struct stat st;
    if (!err) {
        *fd = open(tmp, O_RDONLY | O_CLOEXEC);
        if (*fd < 0 || fstat(*fd, &st)) {
            err = CT_ERR_IO;
            if (*fd >= 0)
                close(*fd);
            *fd = -1;
        }
    }
    pthread_mutex_lock(&dk->mu);
    if (!err) {
        *size = (uint64_t)st.st_size;
        insert_locked(dk, ckey, h, etag, ttl_s, tmp, *size);
    } else {
        unlink(tmp);
    }
    if (mine) {
        dk->pending[slot] = NULL;
        free(mine);
    }
    pthread_cond_broadcast(&dk->cv);
    pthread_mutex_unlock(&dk->mu);
    return err;
}

void edge_disk_invalidate(edge_disk *dk, const char *dist_id, const char *key, int prefix)
{
    if (!dk)
        return;
    pthread_mutex_lock(&dk->mu);
    for (dentry *en = dk->head, *nx; en; en = nx) {
        nx = en->next;
        if (edge_ckey_invalidated(en->ckey, dist_id, key, prefix)) {
            drop_entry(dk, en);
            dk->stats.invalidated++;
        }
    }
    pthread_mutex_unlock(&dk->mu);
}

void edge_disk_get_stats(edge_disk *dk, edge_disk_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!dk)
        return;
    pthread_mutex_lock(&dk->mu);
    *out = dk->stats;
    out->bytes = dk->bytes;
    pthread_mutex_unlock(&dk->mu);
}
