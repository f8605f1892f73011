/* Unit tests: the filesystem blob store and meta's buckets, objects,
 * outbox and multipart tables. */
#include "ct_test.h"
#include "ct_test_pg.h"
#include "meta/meta.h"
#include "store/store.h"

#include <dirent.h>
#include <fcntl.h>
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
    test_store_shared_sweep();
    snprintf(db_url, sizeof db_url, "%s/meta.db", dir);
    test_meta_objects();
    test_meta_uploads();
    printf("sqlite: %d passed, %d failed\n", ct_test_pass, ct_test_fail);
    if (ct_test_pg_url("store_meta", db_url, sizeof db_url)) {
        CHECK(db_url[0] != '\0');
        if (db_url[0]) {
            test_meta_objects();
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
