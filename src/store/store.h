/* store: object bytes ("blobs") behind one ops table.
 *
 * DESIGN: keys never reach the filesystem. An object's bytes live in a blob
 * with an opaque id chosen by the store (local: DIR/blobs/ab/<32 hex>);
 * meta maps (bucket, key) -> blob id. A write goes to a temporary file that
 * is fsynced and renamed into place only on commit, so a crash mid-upload
 * leaves at most a temp file, removed at the next start. Implementations:
 * local filesystem (store_fs.c); S3-compatible remote store later.
 * Ownership: ct_store is owned by main; writers are owned by the caller
 * until commit/abort, which always free them. */
#ifndef CT_STORE_H
#define CT_STORE_H

#include "core/core.h"

#define CT_BLOB_ID_MAX 64

typedef struct ct_store ct_store;
typedef struct ct_store_writer ct_store_writer;

/* Opens the local filesystem store rooted at dir (created if missing). The
 * owning server (ct_store_open_fs) removes temp files left by a crash; a
 * worker process sharing the directory uses _shared, which touches none. */
ct_err ct_store_open_fs(const char *dir, ct_store **out);
ct_err ct_store_open_fs_shared(const char *dir, ct_store **out);
void ct_store_close(ct_store *s);

ct_err ct_store_writer_open(ct_store *s, ct_store_writer **out);
/* A writer that computes no MD5 (commit's md5 comes back zeroed), for
 * blobs composed of others whose ETag is not their MD5 (multipart). */
ct_err ct_store_writer_open_nomd5(ct_store *s, ct_store_writer **out);
ct_err ct_store_writer_write(ct_store_writer *w, const void *p, size_t n);
/* Appends the len bytes of fd from its offset 0 by an in-kernel copy
 * (copy_file_range: a reflink where the filesystem shares extents, else a
 * copy that never enters user space). Only for _nomd5 writers. */
ct_err ct_store_writer_copy_fd(ct_store_writer *w, int fd, uint64_t len);
/* Bytes written so far, and running MD5 of them. */
uint64_t ct_store_writer_size(const ct_store_writer *w);
/* Makes the blob durable; writes its id and final MD5; frees w. */
ct_err ct_store_writer_commit(ct_store_writer *w, char id[CT_BLOB_ID_MAX], unsigned char md5[16]);
void ct_store_writer_abort(ct_store_writer *w);

/* Adopts an existing local file (e.g. a transcode output on the same
 * filesystem) as a blob by renaming it; computes its md5 and size. */
ct_err ct_store_adopt_file(ct_store *s, const char *path, char id[CT_BLOB_ID_MAX],
                           unsigned char md5[16], uint64_t *size);

/* Opens a blob for reading; *fd is owned by the caller. */
ct_err ct_store_open_read(ct_store *s, const char *id, int *fd, uint64_t *size);
/* Local path of a blob (for sendfile / the transcode child), or CT_ERR_UNSUPPORTED. */
ct_err ct_store_local_path(ct_store *s, const char *id, char *out, size_t n);
ct_err ct_store_remove(ct_store *s, const char *id);
/* Removes committed blobs nothing references (a crash between a blob's
 * rename and the metadata commit leaves one). referenced() answers for an id.
 * Run at start, before serving. Returns the number removed in *removed. */
typedef int (*ct_store_ref_fn)(void *ctx, const char *id);
ct_err ct_store_sweep(ct_store *s, ct_store_ref_fn referenced, void *ctx, int *removed);
/* Nodes sharing DIR (serve --db postgres://...) remove what crashed
 * processes left, never what a live one is writing: upload temp files
 * nobody holds a lock on (every writer holds flock() on its temp file until
 * commit or abort; the lock dies with its process, even on kill -9, and
 * works across hosts on NFS), and, when referenced is not NULL, committed
 * blobs nothing references whose last write is more than grace_s old (a
 * live node commits a blob's metadata right after writing it). Counts in
 * *temps and *blobs. */
ct_err ct_store_sweep_shared(ct_store *s, ct_store_ref_fn referenced, void *ctx, int grace_s,
                             int *temps, int *blobs);
/* Inline objects (meta.h) have no blob; readers that need a file get one:
 * ct_store_bytes_fd returns a memfd holding the n bytes at p
 * (offset 0, *fd owned by the caller); ct_store_bytes_file writes them to
 * path (created or truncated, not fsynced: scratch only). */
ct_err ct_store_bytes_fd(const void *p, size_t n, int *fd);
ct_err ct_store_bytes_file(const char *path, const void *p, size_t n);
/* A scratch directory on the same filesystem (for transcode outputs). */
const char *ct_store_scratch_dir(ct_store *s);

#endif
