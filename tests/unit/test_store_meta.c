/* Unit tests: the filesystem blob store and meta's buckets, objects,
 * outbox and multipart tables. */
#include "ct_test.h"
#include "ct_test_pg.h"
#include "meta/meta.h"
#include "meta/meta_internal.h"
#include "store/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[256];
static char db_url[512]; /* SQLite path or PostgreSQL URL: the meta tests run on both */

static int count_entries(const char *path)
{
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    if (d)
        closedir(d);
    return n;
}

static void test_store(void)
{
    ct_store *s;
    CHECK(ct_store_open_fs(dir, &s) == CT_OK);
    ct_store_writer *w;
    char id[CT_BLOB_ID_MAX];
    unsigned char md5[16];
    CHECK(ct_store_writer_open(s, &w) == CT_OK);
    CHECK(ct_store_writer_write(w, "hello", 5) == CT_OK);
    CHECK(ct_store_writer_size(w) == 5);
    CHECK(ct_store_writer_commit(w, id, md5) == CT_OK);
    char hex[33];
    ct_hex(md5, 16, hex);
    CHECK_STR(hex, "5d41402abc4b2a76b9719d911017c592");
    int fd;
    uint64_t size;
    CHECK(ct_store_open_read(s, id, &fd, &size) == CT_OK && size == 5);
    close(fd);
    /* abort leaves nothing behind */
    CHECK(ct_store_writer_open(s, &w) == CT_OK);
    ct_store_writer_write(w, "x", 1);
    ct_store_writer_abort(w);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s/tmp", dir);
    CHECK(count_entries(tmp) == 1); /* only scratch/ */
    /* a crash mid-upload leaves a temp file; reopening removes it */
    CHECK(ct_store_writer_open(s, &w) == CT_OK);
    ct_store_writer_write(w, "partial", 7);
    ct_store_close(s);
    CHECK(count_entries(tmp) == 2);
    CHECK(ct_store_open_fs(dir, &s) == CT_OK);
    CHECK(count_entries(tmp) == 1);
    ct_store_writer_abort(w); /* the stale writer's file is already gone */
    /* hostile ids never reach the filesystem */
    CHECK(ct_store_open_read(s, "../../etc/passwd", &fd, &size) == CT_ERR_INVALID);
    CHECK(ct_store_remove(s, id) == CT_OK);
    CHECK(ct_store_open_read(s, id, &fd, &size) == CT_ERR_NOT_FOUND);
    ct_store_close(s);
}

/* Commits from many short-lived threads at once (each gets its own AIO
 * context for the paired file + directory fsync, freed when it ends), and
 * from the main thread again afterwards: every blob reads back whole. */
typedef struct {
    ct_store *s;
    int n;
    char ids[4][CT_BLOB_ID_MAX];
    int ok;
} commit_job;

static void *commit_thread(void *p)
{
    commit_job *j = p;
    j->ok = 1;
    for (int i = 0; i < 4; i++) {
        ct_store_writer *w;
        unsigned char md5[16];
        char body[32];
        int len = snprintf(body, sizeof body, "thread %d blob %d", j->n, i);
        if (ct_store_writer_open(j->s, &w) != CT_OK ||
            ct_store_writer_write(w, body, (size_t)len) != CT_OK ||
            ct_store_writer_commit(w, j->ids[i], md5) != CT_OK)
            j->ok = 0;
    }
    return NULL;
}

static void test_store_threaded_commits(void)
{
    ct_store *s;
    CHECK(ct_store_open_fs(dir, &s) == CT_OK);
    for (int round = 0; round < 2; round++) {
        commit_job jobs[8];
        pthread_t t[8];
        for (int i = 0; i < 8; i++) {
            jobs[i] = (commit_job){.s = s, .n = i};
            CHECK(pthread_create(&t[i], NULL, commit_thread, &jobs[i]) == 0);
        }
        for (int i = 0; i < 8; i++) {
            pthread_join(t[i], NULL);
            CHECK(jobs[i].ok);
            for (int b = 0; b < 4 && jobs[i].ok; b++) {
                int fd;
                uint64_t size;
                char want[32], got[32] = "";
                int len = snprintf(want, sizeof want, "thread %d blob %d", i, b);
                CHECK(ct_store_open_read(s, jobs[i].ids[b], &fd, &size) == CT_OK);
                CHECK(size == (uint64_t)len && read(fd, got, sizeof got) == len);
                CHECK(memcmp(got, want, (size_t)len) == 0);
                close(fd);
                ct_store_remove(s, jobs[i].ids[b]);
            }
        }
    }
    commit_job mine = {.s = s, .n = 99};
    commit_thread(&mine);
    CHECK(mine.ok);
    ct_store_close(s);
}

/* A blob past the threaded-MD5 threshold, written in odd-sized pieces
 * (wrapping the hasher's ring), has the MD5 of its bytes, and two such
 * writers at once (one may hash inline) agree with one-shot MD5 too. */
static void test_store_large_md5(void)
{
    ct_store *s;
    CHECK(ct_store_open_fs(dir, &s) == CT_OK);
    size_t n = (21u << 20) + 12345;
    unsigned char *buf = malloc(n), want[16], md5[2][16];
    uint32_t r = 7;
    for (size_t i = 0; i < n; i++) {
        r = r * 1103515245u + 12345u;
        buf[i] = (unsigned char)(r >> 16);
    }
    unsigned int len = 16;
    EVP_Digest(buf, n, want, &len, EVP_md5(), NULL);
    ct_store_writer *w[2];
    CHECK(ct_store_writer_open(s, &w[0]) == CT_OK && ct_store_writer_open(s, &w[1]) == CT_OK);
    for (size_t off = 0, k = 1; off < n; off += k, k = k * 3 % 1000003 + 1)
        for (int j = 0; j < 2; j++)
            CHECK(ct_store_writer_write(w[j], buf + off, off + k > n ? n - off : k) == CT_OK);
    char id[2][CT_BLOB_ID_MAX];
    for (int j = 0; j < 2; j++) {
        CHECK(ct_store_writer_size(w[j]) == n);
        CHECK(ct_store_writer_commit(w[j], id[j], md5[j]) == CT_OK);
        CHECK(memcmp(md5[j], want, 16) == 0);
        CHECK(ct_store_remove(s, id[j]) == CT_OK);
    }
    /* an aborted large writer stops its hasher */
    CHECK(ct_store_writer_open(s, &w[0]) == CT_OK);
    CHECK(ct_store_writer_write(w[0], buf, 3u << 20) == CT_OK);
    ct_store_writer_abort(w[0]);
    free(buf);
    ct_store_close(s);
}

/* A blob composed of two others by in-kernel copy holds their bytes in
 * order; an MD5-computing writer refuses copies (its MD5 would be wrong). */
static void test_store_compose(void)
{
    ct_store *s;
    CHECK(ct_store_open_fs(dir, &s) == CT_OK);
    char ids[2][CT_BLOB_ID_MAX], out[CT_BLOB_ID_MAX];
    unsigned char md5[16];
    static const char *const texts[2] = {"first part|", "second"};
    ct_store_writer *w;
    for (int i = 0; i < 2; i++) {
        CHECK(ct_store_writer_open(s, &w) == CT_OK);
        CHECK(ct_store_writer_write(w, texts[i], strlen(texts[i])) == CT_OK);
        CHECK(ct_store_writer_commit(w, ids[i], md5) == CT_OK);
    }
    int fd;
    uint64_t len;
    CHECK(ct_store_writer_open(s, &w) == CT_OK);
    CHECK(ct_store_open_read(s, ids[0], &fd, &len) == CT_OK);
    CHECK(ct_store_writer_copy_fd(w, fd, len) == CT_ERR_INVALID);
    ct_store_writer_abort(w);
    CHECK(ct_store_writer_open_nomd5(s, &w) == CT_OK);
    CHECK(ct_store_writer_copy_fd(w, fd, len) == CT_OK);
    close(fd);
    CHECK(ct_store_open_read(s, ids[1], &fd, &len) == CT_OK);
    CHECK(ct_store_writer_copy_fd(w, fd, len + 1) == CT_ERR_IO); /* source too short */
    ct_store_writer_abort(w);
    CHECK(ct_store_writer_open_nomd5(s, &w) == CT_OK);
    int fd0;
    CHECK(ct_store_open_read(s, ids[0], &fd0, &len) == CT_OK);
    CHECK(ct_store_writer_copy_fd(w, fd0, len) == CT_OK);
    CHECK(ct_store_open_read(s, ids[1], &fd, &len) == CT_OK);
    CHECK(ct_store_writer_copy_fd(w, fd, len) == CT_OK);
    close(fd0);
    close(fd);
    CHECK(ct_store_writer_commit(w, out, md5) == CT_OK);
    char got[64] = "";
    CHECK(ct_store_open_read(s, out, &fd, &len) == CT_OK && len == 17);
    CHECK(read(fd, got, sizeof got) == 17);
    close(fd);
    CHECK_STR(got, "first part|second");
    for (int i = 0; i < 2; i++)
        ct_store_remove(s, ids[i]);
    ct_store_remove(s, out);
    ct_store_close(s);
}

static int never_referenced(void *ctx, const char *id) { return 0; }

/* Nodes sharing DIR: a live writer's temp file survives a peer's sweep; a
 * dead process's (a child that exits holding a writer) does not; young
 * unreferenced blobs stay, old ones go. */
static void test_store_shared_sweep(void)
{
    ct_store *s, *peer;
    ct_store_writer *w;
    char id[CT_BLOB_ID_MAX], tmp[300];
    unsigned char md5[16];
    int temps = -1, blobs = -1, fd;
    uint64_t size;
    snprintf(tmp, sizeof tmp, "%s/tmp", dir);
    CHECK(ct_store_open_fs_shared(dir, &s) == CT_OK && ct_store_open_fs_shared(dir, &peer) == CT_OK);
    CHECK(ct_store_writer_open(s, &w) == CT_OK && ct_store_writer_write(w, "live", 4) == CT_OK);
    pid_t pid = fork();
    if (pid == 0) {
        ct_store_writer *dead;
        _exit(ct_store_writer_open(s, &dead) == CT_OK && ct_store_writer_write(dead, "x", 1) == CT_OK
                  ? 0 : 1);
    }
    int status = -1;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
          WEXITSTATUS(status) == 0);
    CHECK(count_entries(tmp) == 3); /* scratch/, the live and the dead temp file */
    CHECK(ct_store_sweep_shared(peer, NULL, NULL, 0, &temps, &blobs) == CT_OK);
    CHECK(temps == 1 && blobs == 0 && count_entries(tmp) == 2);
    CHECK(ct_store_writer_commit(w, id, md5) == CT_OK); /* the live upload is intact */
    CHECK(ct_store_sweep_shared(peer, never_referenced, NULL, 3600, &temps, &blobs) == CT_OK);
    CHECK(temps == 0 && blobs == 0 && ct_store_open_read(s, id, &fd, &size) == CT_OK);
    close(fd);
    char p[600];
    snprintf(p, sizeof p, "%s/blobs/%.2s/%s", dir, id, id);
    struct timespec old[2] = {{time(NULL) - 7200, 0}, {time(NULL) - 7200, 0}};
    CHECK(utimensat(AT_FDCWD, p, old, 0) == 0);
    CHECK(ct_store_sweep_shared(peer, never_referenced, NULL, 3600, &temps, &blobs) == CT_OK);
    CHECK(blobs == 1 && ct_store_open_read(s, id, &fd, &size) == CT_ERR_NOT_FOUND);
    ct_store_close(peer);
    ct_store_close(s);
}

static int listed;
static ct_err count_cb(void *ctx, const ct_meta_object *o)
{
    listed++;
    return CT_OK;
}

static int outbox_rows;
static ct_err outbox_cb(void *ctx, const ct_meta_outbox_row *r)
{
    outbox_rows++;
    return CT_OK;
}

static void test_meta_objects(void)
{
    ct_meta *m = NULL;
    CHECK(ct_meta_open(db_url, &m) == CT_OK);
    if (!m)
        return;
    CHECK(ct_meta_bucket_create(m, "b1") == CT_OK);
    CHECK(ct_meta_bucket_create(m, "b1") == CT_ERR_EXISTS);
    ct_meta_object o = {.bucket = "b1", .key = "a", .size = 1, .etag = "e1",
                        .content_type = "text/plain", .blob_id = "0123"};
    ct_meta_event_info ev = {"ObjectCreated:Put", "me", "127.0.0.1", "R1"};
    char old[64];
    CHECK(ct_meta_object_put(m, &o, &ev, old) == CT_OK && old[0] == '\0');
    o.key = "a/b";
    CHECK(ct_meta_object_put(m, &o, &ev, old) == CT_OK);
    o.key = "a";
    strcpy(o.blob_id, "4567");
    CHECK(ct_meta_object_put(m, &o, &ev, old) == CT_OK);
    CHECK_STR(old, "0123");
    o.bucket = "nope";
    CHECK(ct_meta_object_put(m, &o, &ev, old) == CT_ERR_NOT_FOUND);
    ct_meta_object got;
    CHECK(ct_meta_object_get(m, "b1", "a", &got) == CT_OK);
    CHECK_STR(got.blob_id, "4567");
    ct_meta_object_free(&got);
    listed = 0;
    CHECK(ct_meta_object_list(m, "b1", "a", "", 10, count_cb, NULL) == CT_OK && listed == 2);
    listed = 0;
    CHECK(ct_meta_object_list(m, "b1", "a/", "", 10, count_cb, NULL) == CT_OK && listed == 1);
    CHECK(ct_meta_bucket_delete(m, "b1") == CT_ERR_CONFLICT);
    outbox_rows = 0;
    CHECK(ct_meta_outbox_due(m, 10, outbox_cb, NULL) == CT_OK && outbox_rows == 3);
    CHECK(ct_meta_object_delete(m, "b1", "a", &ev, old) == CT_OK);
    CHECK_STR(old, "4567");
    CHECK(ct_meta_object_delete(m, "b1", "a", &ev, old) == CT_ERR_NOT_FOUND);
    CHECK(ct_meta_object_delete(m, "b1", "a/b", NULL, old) == CT_OK);
    CHECK(ct_meta_bucket_delete(m, "b1") == CT_OK);
    ct_meta_close(m);
}

/* SQLite: pooled readers read through a memory map (meta_read.c), and what
 * they read is the last commit's, across checkpoints and a WAL restart:
 * an inline object overwritten 3000 times reads back as its last bytes
 * every time. */
static void test_meta_reader_map(void)
{
    ct_meta *m = NULL;
    CHECK(ct_meta_open(db_url, &m) == CT_OK);
    if (!m)
        return;
    ct_db *db = meta_read_begin(m);
    CHECK(db != m->db); /* a pooled reader */
    ct_db_stmt *st = NULL;
    CHECK(ct_db_prepare(db, "PRAGMA mmap_size", &st) == CT_OK && ct_db_step(st) == CT_DB_ROW &&
          ct_db_col_int64(st, 0) > 0);
    ct_db_finalize(st);
    meta_read_end(m, db);
    CHECK(ct_meta_bucket_create(m, "mapped") == CT_OK);
    unsigned char bytes[3000];
    char old[64];
    int bad = 0;
    for (int i = 0; i < 3000; i++) {
        memset(bytes, 'a' + i % 26, sizeof bytes);
        memcpy(bytes, &i, sizeof i);
        ct_meta_object o = {.bucket = "mapped", .key = i % 2 ? "odd" : "even", .size = sizeof bytes,
                            .etag = "e", .content_type = "x", .is_inline = 1,
                            .inline_data = bytes, .inline_len = sizeof bytes};
        bad += ct_meta_object_put(m, &o, NULL, old) != CT_OK;
        ct_meta_object got;
        if (ct_meta_object_get(m, "mapped", o.key, &got) != CT_OK) {
            bad++;
            continue;
        }
        bad += got.inline_len != sizeof bytes || memcmp(got.inline_data, bytes, sizeof bytes) != 0;
        ct_meta_object_free(&got);
    }
    CHECK(bad == 0);
    ct_meta_close(m);
}

/* Concurrent puts (grouped into shared transactions on SQLite): each keeps
 * its own outcome. Per thread: RACE_N distinct keys, one If-None-Match:*
 * put of "race" (exactly one may win) and RACE_N overwrites of "shared",
 * whose returned old blobs must chain: every id but the last is replaced
 * exactly once, and exactly one put found no previous object. */
#define RACE_THREADS 12
#define RACE_N 15

typedef struct {
    ct_meta *m;
    int t, won, first, errors;
    char olds[RACE_N][64];
} race_arg;

static void *race_thread(void *p)
{
    race_arg *a = p;
    char key[64], old[64];
    ct_meta_object o = {.bucket = "gc", .size = 1, .etag = "e", .content_type = "x"};
    for (int i = 0; i < RACE_N; i++) {
        snprintf(key, sizeof key, "k%d/%d", a->t, i);
        o.key = key;
        snprintf(o.blob_id, sizeof o.blob_id, "b-%d-%d", a->t, i);
        a->errors += ct_meta_object_put(a->m, &o, NULL, old) != CT_OK;
        o.key = "shared";
        a->errors += ct_meta_object_put(a->m, &o, NULL, a->olds[i]) != CT_OK;
        a->first += a->olds[i][0] == '\0';
        if (i == RACE_N / 2) {
            ct_meta_put_cond c = {.if_none_match_star = 1};
            o.key = "race";
            ct_err e = ct_meta_object_put_if(a->m, &o, NULL, &c, old);
            a->won += e == CT_OK;
            a->errors += e != CT_OK && e != CT_ERR_PRECONDITION;
        }
    }
    return NULL;
}

static int str_in(char (*list)[64], int n, const char *s)
{
    int c = 0;
    for (int i = 0; i < n; i++)
        c += strcmp(list[i], s) == 0;
    return c;
}

static void test_meta_concurrent_puts(void)
{
    ct_meta *m = NULL;
    CHECK(ct_meta_open(db_url, &m) == CT_OK);
    if (!m)
        return;
    CHECK(ct_meta_bucket_create(m, "gc") == CT_OK);
    static race_arg args[RACE_THREADS];
    pthread_t th[RACE_THREADS];
    for (int t = 0; t < RACE_THREADS; t++) {
        args[t] = (race_arg){.m = m, .t = t};
        pthread_create(&th[t], NULL, race_thread, &args[t]);
    }
    int won = 0, first = 0, errors = 0;
    for (int t = 0; t < RACE_THREADS; t++) {
        pthread_join(th[t], NULL);
        won += args[t].won;
        first += args[t].first;
        errors += args[t].errors;
    }
    CHECK(errors == 0);
    CHECK(won == 1);
    CHECK(first == 1);
    static char olds[RACE_THREADS * RACE_N][64];
    for (int t = 0; t < RACE_THREADS; t++)
        memcpy(olds[t * RACE_N], args[t].olds, sizeof args[t].olds);
    ct_meta_object cur;
    CHECK(ct_meta_object_get(m, "gc", "shared", &cur) == CT_OK);
    int chain_ok = str_in(olds, RACE_THREADS * RACE_N, cur.blob_id) == 0;
    for (int t = 0; t < RACE_THREADS; t++)
        for (int i = 0; i < RACE_N; i++) {
            char id[64];
            snprintf(id, sizeof id, "b-%d-%d", t, i);
            if (strcmp(id, cur.blob_id) != 0 && str_in(olds, RACE_THREADS * RACE_N, id) != 1)
                chain_ok = 0;
        }
    CHECK(chain_ok);
    ct_meta_object_free(&cur);
    listed = 0;
    CHECK(ct_meta_object_list(m, "gc", "", "", 1000, count_cb, NULL) == CT_OK &&
          listed == RACE_THREADS * RACE_N + 2);
    ct_meta_close(m);
}

static int parts_seen;
static ct_err part_cb(void *ctx, const ct_meta_part *p)
{
    parts_seen++;
    return CT_OK;
}

static void test_meta_uploads(void)
{
    ct_meta *m = NULL;
    CHECK(ct_meta_open(db_url, &m) == CT_OK);
    if (!m)
        return;
    ct_meta_upload u = {.upload_id = "U1", .bucket = "b2", .key = "k"};
    CHECK(ct_meta_upload_create(m, &u) == CT_ERR_NOT_FOUND);
    CHECK(ct_meta_bucket_create(m, "b2") == CT_OK);
    CHECK(ct_meta_upload_create(m, &u) == CT_OK);
    ct_meta_part p = {.part_number = 2, .blob_id = "x2", .size = 10, .etag = "e2"};
    char old[64];
    CHECK(ct_meta_part_put(m, "U1", &p, old) == CT_OK && !old[0]);
    p.part_number = 1;
    strcpy(p.blob_id, "x1");
    CHECK(ct_meta_part_put(m, "U1", &p, old) == CT_OK);
    strcpy(p.blob_id, "x1b");
    CHECK(ct_meta_part_put(m, "U1", &p, old) == CT_OK);
    CHECK_STR(old, "x1");
    CHECK(ct_meta_part_put(m, "NOPE", &p, old) == CT_ERR_NOT_FOUND);
    parts_seen = 0;
    CHECK(ct_meta_part_list(m, "U1", 0, 100, part_cb, NULL) == CT_OK && parts_seen == 2);
    CHECK(ct_meta_upload_delete(m, "U1") == CT_OK);
    CHECK(ct_meta_upload_delete(m, "U1") == CT_ERR_NOT_FOUND);
    ct_meta_close(m);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/ct-test-store-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    test_store();
    test_store_large_md5();
    test_store_compose();
    test_store_shared_sweep();
    test_store_threaded_commits();
    snprintf(db_url, sizeof db_url, "%s/meta.db", dir);
    test_meta_objects();
    test_meta_reader_map();
    test_meta_concurrent_puts();
    test_meta_uploads();
    printf("sqlite: %d passed, %d failed\n", ct_test_pass, ct_test_fail);
    if (ct_test_pg_url("store_meta", db_url, sizeof db_url)) {
        CHECK(db_url[0] != '\0');
        if (db_url[0]) {
            test_meta_objects();
            test_meta_concurrent_puts();
            test_meta_uploads();
        }
        ct_test_pg_stop();
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup failed\n");
    CT_TEST_END();
}
