/* job_io_local.c: job I/O on the server's own data directory (meta + store). */
#include "worker/job_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    ct_job_io base;
    ct_meta *meta;
    ct_store *store;
} local_io;

/* An inline object (meta.h) has no file: its bytes go to scratch/input.<ext
 * of key> (the extension helps format probing), which the job's scratch
 * directory takes away with it. */
static ct_err inline_input(const ct_meta_object *o, const char *key, const char *scratch,
                           char *path, size_t n)
{
    const char *slash = strrchr(key, '/'), *dot = strrchr(slash ? slash : key, '.');
    if (!dot || strlen(dot) > 16 || strspn(dot + 1, "abcdefghijklmnopqrstuvwxyz"
                                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") !=
                                         strlen(dot + 1))
        dot = "";
    ct_err e = ct_snprintf(path, n, "%s/input%s", scratch, dot);
    return e ? e : ct_store_bytes_file(path, o->inline_data, o->inline_len);
}

static int local_fetch(ct_job_io *io, const char *bucket, const char *key, const char *scratch,
                       char *path, size_t n, ct_job_io_tick_fn tick, void *ctx, char *msg,
                       size_t msglen)
{
    local_io *l = (local_io *)io;
    ct_meta_object o;
    ct_err e = ct_meta_object_get(l->meta, bucket, key, &o);
    if (e) {
        snprintf(msg, msglen, "s3://%s/%s: %s", bucket, key,
                 e == CT_ERR_NOT_FOUND ? "input object not found" : ct_err_str(e));
        return e == CT_ERR_NOT_FOUND ? 1404 : 1999;
    }
    e = o.is_inline ? inline_input(&o, key, scratch, path, n)
                    : ct_store_local_path(l->store, o.blob_id, path, n);
    ct_meta_object_free(&o);
    if (e) {
        snprintf(msg, msglen, "s3://%s/%s: input not readable", bucket, key);
        return 1010;
    }
    return 0;
}

/* Adopt the file as a blob, then one meta transaction with the
 * ObjectCreated event, then drop any replaced blob. */
static ct_err commit_output(local_io *l, const ct_mc_dest *d, const char *path)
{
    char id[CT_BLOB_ID_MAX], old[64];
    unsigned char md5[16];
    uint64_t size = 0;
    ct_err e = ct_store_adopt_file(l->store, path, id, md5, &size);
    if (e)
        return e;
    ct_meta_object o = {.bucket = (char *)d->bucket, .key = (char *)d->key, .size = size,
                        .content_type = (char *)ct_mime_from_name(d->key),
                        .mtime_ms = ct_now_ms()};
    memcpy(o.blob_id, id, sizeof o.blob_id);
    ct_hex(md5, 16, o.etag);
    ct_meta_event_info ev = {"ObjectCreated:Put", "mediaconvert.amazonaws.com", "127.0.0.1", ""};
    if ((e = ct_meta_object_put(l->meta, &o, &ev, old))) {
        ct_store_remove(l->store, id);
        return e;
    }
    if (old[0])
        ct_store_remove(l->store, old);
    return CT_OK;
}

static int local_put(ct_job_io *io, const ct_mc_dest *d, const char *path,
                     ct_job_io_tick_fn tick, void *ctx, char *msg, size_t msglen)
{
    ct_err e = commit_output((local_io *)io, d, path);
    if (!e)
        return 0;
    snprintf(msg, msglen, "s3://%s/%s: could not write output (%s)", d->bucket, d->key,
             e == CT_ERR_NOT_FOUND ? "bucket does not exist" : ct_err_str(e));
    return e == CT_ERR_NOT_FOUND ? 1404 : e == CT_ERR_NOSPC ? 1050 : 1999;
}

static const char *local_scratch(ct_job_io *io)
{
    return ct_store_scratch_dir(((local_io *)io)->store);
}

static void local_close(ct_job_io *io) { free(io); }

static const ct_job_io_ops local_ops = {local_fetch, local_put, local_scratch, local_close};

ct_err ct_job_io_local_open(ct_meta *meta, ct_store *store, ct_job_io **out)
{
    local_io *l = calloc(1, sizeof *l);
    if (!l)
        return CT_ERR_NOMEM;
    l->base.ops = &local_ops;
    l->meta = meta;
    l->store = store;
    *out = &l->base;
    return CT_OK;
}
