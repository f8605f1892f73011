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
 *   - persistent: next to each object file o<seq> a small JSON file m<seq>
 *     holds its key, the origin row (ETag, size, type, Cache-Control...) and
 *     its expiry in wall-clock time, written before the object file takes
 *     its name. At start the index is rebuilt from these pairs: expired
 *     entries, files whose size disagrees with their metadata, orphans and
 *     temp files are removed; LRU order restarts as insertion order (seq)
 *     and the size bound is applied again. The row lets a restarted edge
 *     answer a hit without asking the origin (edge_disk_row). Files are not
 *     fsynced: a "state" file records the boot id and whether the last stop
 *     was clean (syncfs); after a reboot without a clean stop the directory
 *     is emptied, since unflushed files may be garbage of the right size.
 *     Invalidations made while the edge was down are applied at its first
 *     poll (edge_sync.c).
 * Files are named by a sequence number; keys never reach file names. */
#include "edge/edge_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
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
    ct_meta_object row; /* the origin's row (etag, size, type, headers) */
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
    uint64_t inval_gen; /* bumped by every invalidation */
    char *pending[DK_PENDING_MAX];
    edge_disk_stats stats;
};

static void path_of(const edge_disk *dk, uint64_t seq, const char *tag, char *out, size_t n)
{
    snprintf(out, n, "%s/%s%016llx", dk->dir, tag, (unsigned long long)seq);
}

static void entry_free(dentry *en)
{
    free(en->ckey);
    ct_meta_object_free(&en->row);
    free(en);
}

/* Deep copy of the row fields the edge serves from (no blob id: remote). */
static int row_copy(ct_meta_object *dst, const ct_meta_object *src)
{
    memset(dst, 0, sizeof *dst);
    memcpy(dst->etag, src->etag, sizeof dst->etag);
    dst->size = src->size;
    dst->mtime_ms = src->mtime_ms;
    dst->bucket = src->bucket ? strdup(src->bucket) : NULL;
    dst->key = src->key ? strdup(src->key) : NULL;
    dst->content_type = src->content_type ? strdup(src->content_type) : NULL;
    dst->meta_json = src->meta_json ? strdup(src->meta_json) : NULL;
    if ((src->bucket && !dst->bucket) || (src->key && !dst->key) ||
        (src->content_type && !dst->content_type) || (src->meta_json && !dst->meta_json)) {
        ct_meta_object_free(dst);
        return -1;
    }
    return 0;
}

/* ---- the index in memory ---- */

static void link_front(edge_disk *dk, dentry *en)
{
    en->hnext = dk->buckets[en->hash % DK_BUCKETS];
    dk->buckets[en->hash % DK_BUCKETS] = en;
    en->prev = NULL;
    en->next = dk->head;
    if (dk->head)
        dk->head->prev = en;
    dk->head = en;
    if (!dk->tail)
        dk->tail = en;
    dk->bytes += en->size;
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

static void unlink_files(edge_disk *dk, uint64_t seq)
{
    char p[4096];
    path_of(dk, seq, "m", p, sizeof p); /* metadata first: an object file alone is an orphan */
    unlink(p);
    path_of(dk, seq, "o", p, sizeof p);
    unlink(p);
}

/* Unlinks the entry and its files (open fds keep reading the object). */
static void drop_entry(edge_disk *dk, dentry *en)
{
    unlink_entry(dk, en);
    unlink_files(dk, en->seq);
    entry_free(en);
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

/* ---- the files: metadata, state, the index rebuilt at start ---- */

/* m<seq>: the entry's key, row, file size and wall-clock expiry, written
 * via n<seq>. */
static int meta_write(edge_disk *dk, uint64_t seq, const char *ckey, const ct_meta_object *o,
                      uint64_t file_size, int64_t expires_wall_ms)
{
    char tmp[4096], p[4096];
    json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s, s:s, s:s?}", "ckey", ckey,
                          "etag", o->etag, "size", (json_int_t)file_size, "objectSize",
                          (json_int_t)o->size, "expires",
                          (json_int_t)expires_wall_ms, "mtime", (json_int_t)o->mtime_ms,
                          "bucket", o->bucket ? o->bucket : "", "key", o->key ? o->key : "",
                          "contentType", o->content_type ? o->content_type : "", "meta",
                          o->meta_json);
    path_of(dk, seq, "n", tmp, sizeof tmp);
    path_of(dk, seq, "m", p, sizeof p);
    int rc = j && json_dump_file(j, tmp, JSON_COMPACT) == 0 && rename(tmp, p) == 0 ? 0 : -1;
    if (rc)
        unlink(tmp);
    json_decref(j);
    return rc;
}

static const char *jstr(const json_t *j, const char *k)
{
    const char *s = json_string_value(json_object_get(j, k));
    return s ? s : "";
}

/* The entry of m<seq>, validated against o<seq>; NULL when unusable. */
static dentry *meta_read(edge_disk *dk, uint64_t seq, int64_t now_wall)
{
    char p[4096];
    struct stat st;
    path_of(dk, seq, "m", p, sizeof p);
    json_t *j = json_load_file(p, 0, NULL);
    path_of(dk, seq, "o", p, sizeof p);
    json_int_t size = json_integer_value(json_object_get(j, "size"));
    json_int_t expires = json_integer_value(json_object_get(j, "expires"));
    const char *meta = json_string_value(json_object_get(j, "meta"));
    dentry *en = NULL;
    if (!json_is_object(j) || !*jstr(j, "ckey") || !*jstr(j, "etag") ||
        strlen(jstr(j, "etag")) >= sizeof en->row.etag || size < 0 || expires <= now_wall ||
        stat(p, &st) || !S_ISREG(st.st_mode) || (json_int_t)st.st_size != size)
        goto cleanup;
    if (!(en = calloc(1, sizeof *en)))
        goto cleanup;
    ct_meta_object r = {.bucket = (char *)jstr(j, "bucket"), .key = (char *)jstr(j, "key"),
                        .content_type = (char *)jstr(j, "contentType"),
                        .meta_json = (char *)meta,
                        .size = (uint64_t)json_integer_value(json_object_get(j, "objectSize")),
                        .mtime_ms = json_integer_value(json_object_get(j, "mtime"))};
    snprintf(r.etag, sizeof r.etag, "%s", jstr(j, "etag"));
    if (!(en->ckey = strdup(jstr(j, "ckey"))) || row_copy(&en->row, &r)) {
        free(en->ckey);
        free(en);
        en = NULL;
        goto cleanup;
    }
    en->hash = ct_fnv1a(en->ckey);
    en->seq = seq;
    en->size = (uint64_t)size;
    en->expires_ms = ct_mono_ms() + (expires - now_wall);
cleanup:
    json_decref(j);
    return en;
}

static void boot_id(char out[64])
{
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    out[0] = '\0';
    if (f && fgets(out, 64, f))
        out[strcspn(out, "\n")] = '\0';
    if (f)
        fclose(f);
}

/* "state": the boot id and whether the last stop synced the files. */
static void state_write(edge_disk *dk, int clean)
{
    char p[4096], tmp[4096], b[64];
    boot_id(b);
    snprintf(p, sizeof p, "%s/state", dk->dir);
    snprintf(tmp, sizeof tmp, "%s/state.new", dk->dir);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    int ok = fprintf(f, "boot %s\nclean %d\n", b, clean) > 0;
    if (fclose(f) == 0 && ok)
        rename(tmp, p);
    else
        unlink(tmp);
}

/* 1 when the files of the previous run can be trusted: same boot (the
 * page cache had them all), or a clean stop that synced them. */
static int state_reusable(const edge_disk *dk)
{
    char p[4096], b[64], was[64] = "";
    int clean = 0;
    snprintf(p, sizeof p, "%s/state", dk->dir);
    FILE *f = fopen(p, "r");
    if (!f)
        return 0;
    int n = fscanf(f, "boot %63s clean %d", was, &clean);
    fclose(f);
    boot_id(b);
    return n == 2 && ((b[0] && !strcmp(b, was)) || clean == 1);
}

static int seq_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* seq of "<tag><16 hex>", or 0. */
static uint64_t name_seq(const char *name, char tag)
{
    char *end;
    if (name[0] != tag || strlen(name) != 17)
        return 0;
    uint64_t v = strtoull(name + 1, &end, 16);
    return *end ? 0 : v;
}

/* The m<seq> numbers in the directory (sorted), every other file but
 * object files and "state" removed. */
static uint64_t *scan_dir(edge_disk *dk, size_t *n)
{
    DIR *d = opendir(dk->dir);
    uint64_t *seqs = NULL;
    size_t cap = 0;
    *n = 0;
    struct dirent *de;
    char p[4096];
    while (d && (de = readdir(d))) {
        uint64_t m = name_seq(de->d_name, 'm');
        if (de->d_name[0] == '.' || name_seq(de->d_name, 'o') || !strcmp(de->d_name, "state"))
            continue;
        if (m && *n == cap) {
            uint64_t *g = realloc(seqs, (cap = cap ? cap * 2 : 256) * sizeof *g);
            if (!g)
                break;
            seqs = g;
        }
        if (m)
            seqs[(*n)++] = m;
        else {
            snprintf(p, sizeof p, "%s/%s", dk->dir, de->d_name);
            unlink(p);
        }
    }
    if (d)
        closedir(d);
    if (*n)
        qsort(seqs, *n, sizeof *seqs, seq_cmp);
    return seqs;
}

/* Removes object files no index entry names. */
static void drop_orphans(edge_disk *dk, const uint64_t *kept, size_t n)
{
    DIR *d = opendir(dk->dir);
    struct dirent *de;
    char p[4096];
    while (d && (de = readdir(d))) {
        uint64_t o = name_seq(de->d_name, 'o');
        if (o && (!n || !bsearch(&o, kept, n, sizeof *kept, seq_cmp))) {
            snprintf(p, sizeof p, "%s/%s", dk->dir, de->d_name);
            unlink(p);
        }
    }
    if (d)
        closedir(d);
}

/* The index of a previous run (reuse) or an empty directory. */
static void load_index(edge_disk *dk, int reuse)
{
    size_t n = 0, kept = 0;
    uint64_t *seqs = scan_dir(dk, &n);
    int64_t now = ct_now_ms();
    for (size_t i = 0; i < n; i++) { /* oldest first: the newest ends at the LRU head */
        dentry *en = reuse ? meta_read(dk, seqs[i], now) : NULL, *dup;
        if (dk->seq < seqs[i])
            dk->seq = seqs[i];
        if (!en) {
            unlink_files(dk, seqs[i]);
            continue;
        }
        if ((dup = find_locked(dk, en->ckey, en->hash)))
            drop_entry(dk, dup);
        link_front(dk, en);
    }
    while (dk->tail && dk->bytes > dk->max_bytes) /* a smaller --cache-mib than before */
        drop_entry(dk, dk->tail);
    for (dentry *en = dk->head; en; en = en->next)
        seqs[kept++] = en->seq;
    if (kept)
        qsort(seqs, kept, sizeof *seqs, seq_cmp);
    drop_orphans(dk, seqs, kept);
    if (kept)
        ct_info("edge: disk cache reused: %zu object(s), %llu bytes", kept,
                (unsigned long long)dk->bytes);
    free(seqs);
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
    pthread_mutex_init(&dk->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&dk->cv, &ca);
    pthread_condattr_destroy(&ca);
    dk->max_bytes = max_bytes;
    load_index(dk, state_reusable(dk));
    state_write(dk, 0); /* until a clean stop says otherwise */
    return dk;
}

/* Keeps the files (the next start reuses them) and marks the stop clean
 * once they are on disk. */
void edge_disk_free(edge_disk *dk)
{
    if (!dk)
        return;
    for (dentry *en = dk->head, *nx; en; en = nx) {
        nx = en->next;
        entry_free(en);
    }
    int dfd = open(dk->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0 && syncfs(dfd) == 0)
        state_write(dk, 1);
    if (dfd >= 0)
        close(dfd);
    pthread_mutex_destroy(&dk->mu);
    pthread_cond_destroy(&dk->cv);
    free(dk->dir);
    free(dk);
}

/* ---- lookups ---- */

/* A fresh entry of ckey with etag, opened: 1 (fd, size set); else 0 (a
 * stale entry is dropped on the way). */
static int hit_locked(edge_disk *dk, const char *ckey, uint64_t h, const char *etag, int *fd,
                      uint64_t *size)
{
    dentry *en = find_locked(dk, ckey, h);
    if (!en)
        return 0;
    if (strcmp(en->row.etag, etag) || ct_mono_ms() >= en->expires_ms) {
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

int edge_disk_ready(edge_disk *dk, const char *ckey, const char *etag)
{
    if (!dk)
        return 0;
    pthread_mutex_lock(&dk->mu);
    dentry *en = find_locked(dk, ckey, ct_fnv1a(ckey));
    int ok = en && !strcmp(en->row.etag, etag) && ct_mono_ms() < en->expires_ms;
    pthread_mutex_unlock(&dk->mu);
    return ok;
}

int edge_disk_row(edge_disk *dk, const char *ckey, ct_meta_object *out, int64_t *ttl_s)
{
    if (!dk)
        return 0;
    uint64_t h = ct_fnv1a(ckey);
    int found = 0;
    pthread_mutex_lock(&dk->mu);
    dentry *en = find_locked(dk, ckey, h);
    int64_t left = en ? en->expires_ms - ct_mono_ms() : 0;
    if (en && left <= 0)
        drop_entry(dk, en);
    else if (en && row_copy(out, &en->row) == 0) {
        *ttl_s = left / 1000;
        found = 1;
    }
    pthread_mutex_unlock(&dk->mu);
    return found;
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

/* Files the fetched t<seq> as ckey's entry o<seq> (its m<seq> written when
 * keep), evicting LRU entries; or, when it cannot be kept, unlinks it behind
 * the open fd. */
static void insert_locked(edge_disk *dk, const char *ckey, uint64_t h, const ct_meta_object *o,
                          int64_t ttl_s, uint64_t seq, uint64_t size, int keep)
{
    dentry *en = keep ? calloc(1, sizeof *en) : NULL, *old;
    char tmp[4096], p[4096];
    path_of(dk, seq, "t", tmp, sizeof tmp);
    path_of(dk, seq, "o", p, sizeof p);
    if (!en || !(en->ckey = strdup(ckey)) || row_copy(&en->row, o) || rename(tmp, p)) {
        if (en)
            entry_free(en);
        unlink(tmp);
        unlink_files(dk, seq);
        return;
    }
    if ((old = find_locked(dk, ckey, h))) /* a concurrent fetch of the same key */
        drop_entry(dk, old);
    while (dk->tail && dk->bytes + size > dk->max_bytes) {
        drop_entry(dk, dk->tail);
        dk->stats.evictions++;
    }
    en->hash = h;
    en->seq = seq;
    en->size = size;
    en->expires_ms = ct_mono_ms() + ttl_s * 1000;
    link_front(dk, en);
}

ct_err edge_disk_get(edge_disk *dk, const char *ckey, const ct_meta_object *o, int64_t ttl_s,
                     edge_disk_fill_fn fill, void *ctx, int *fd, uint64_t *size, int *hit)
{
    uint64_t h = ct_fnv1a(ckey);
    *fd = -1;
    *hit = 0;
    pthread_mutex_lock(&dk->mu);
    if (!hit_locked(dk, ckey, h, o->etag, fd, size) && pending_index(dk, ckey) >= 0) {
        wait_pending(dk, ckey);
        if (hit_locked(dk, ckey, h, o->etag, fd, size))
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
    uint64_t seq = ++dk->seq, gen = dk->inval_gen;
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
    /* The metadata file goes first (outside the lock): an object file never
     * stands named without it, so a crash leaves at worst an orphan. */
    int keep = !err && ttl_s > 0 && (uint64_t)st.st_size <= dk->max_bytes &&
               strlen(o->etag) < sizeof ((dentry *)0)->row.etag &&
               meta_write(dk, seq, ckey, o, (uint64_t)st.st_size, ct_now_ms() + ttl_s * 1000) == 0;
    pthread_mutex_lock(&dk->mu);
    if (!err) {
        /* An invalidation during the fetch may have meant these bytes: they
         * are served to this request but not kept. */
        *size = (uint64_t)st.st_size;
        insert_locked(dk, ckey, h, o, ttl_s, seq, *size, keep && gen == dk->inval_gen);
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
    dk->inval_gen++;
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
