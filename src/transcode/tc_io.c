/* tc_io: AVIOContexts over file descriptors, the io_open guards, and the
 * av_log hook that remembers the last error line for error messages.
 *
 * Every context uses pread/pwrite with its own offset, so several contexts
 * can share one fd (the MP4 muxer's +faststart pass reads the file while it
 * rewrites it) and the fd's own offset never matters. */
#include "transcode/tc_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TC_IO_BUF (64 * 1024)

typedef struct {
    int fd;
    int64_t pos;
} tc_fdio;

static int fdio_read(void *opaque, uint8_t *buf, int n)
{
    tc_fdio *f = opaque;
    ssize_t r;
    do {
        r = pread(f->fd, buf, (size_t)n, f->pos);
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        return AVERROR(errno);
    if (r == 0)
        return AVERROR_EOF;
    f->pos += r;
    return (int)r;
}

static int fdio_write(void *opaque, uint8_t *buf, int n)
{
    tc_fdio *f = opaque;
    int done = 0;
    while (done < n) {
        ssize_t r = pwrite(f->fd, buf + done, (size_t)(n - done), f->pos);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return AVERROR(r < 0 ? errno : EIO);
        f->pos += r;
        done += (int)r;
    }
    return done;
}

static int64_t fdio_seek(void *opaque, int64_t off, int whence)
{
    tc_fdio *f = opaque;
    struct stat sb;
    int64_t npos;
    whence &= ~AVSEEK_FORCE;
    if (whence == AVSEEK_SIZE || whence == SEEK_END) {
        if (fstat(f->fd, &sb) != 0)
            return AVERROR(errno);
        if (whence == AVSEEK_SIZE)
            return (int64_t)sb.st_size;
        npos = (int64_t)sb.st_size + off;
    } else if (whence == SEEK_SET) {
        npos = off;
    } else if (whence == SEEK_CUR) {
        npos = f->pos + off;
    } else {
        return AVERROR(EINVAL);
    }
    if (npos < 0)
        return AVERROR(EINVAL);
    f->pos = npos;
    return npos;
}

int tc_fdio_alloc(int fd, int writable, AVIOContext **pb)
{
    tc_fdio *f = av_mallocz(sizeof *f);
    unsigned char *buf = av_malloc(TC_IO_BUF);
    *pb = NULL;
    if (!f || !buf)
        goto fail;
    f->fd = fd;
    *pb = avio_alloc_context(buf, TC_IO_BUF, writable, f, writable ? NULL : fdio_read,
                             writable ? fdio_write : NULL, fdio_seek);
    if (!*pb)
        goto fail;
    return 0;
fail:
    av_free(f);
    av_free(buf);
    return AVERROR(ENOMEM);
}

void tc_fdio_free(AVIOContext **pb)
{
    if (!pb || !*pb)
        return;
    av_freep(&(*pb)->opaque);
    av_freep(&(*pb)->buffer);
    avio_context_free(pb);
}

/* Input side: no demuxer may open anything (playlists, references,
 * concat entries, dref atoms...). */
int tc_input_io_open(AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                     AVDictionary **opts)
{
    (void)s;
    (void)flags;
    (void)opts;
    *pb = NULL;
    av_log(NULL, AV_LOG_ERROR, "cattube: refused nested open of '%.200s'\n", url ? url : "");
    return AVERROR(EPERM);
}

/* Output side: the MP4 muxer re-opens its own file for reading when it
 * moves moov before mdat; hand it a read context over the same fd. */
int tc_output_io_open(AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                      AVDictionary **opts)
{
    (void)url;
    (void)opts;
    *pb = NULL;
    if (flags != AVIO_FLAG_READ || !s->pb || !s->pb->opaque)
        return AVERROR(EPERM);
    return tc_fdio_alloc(((tc_fdio *)s->pb->opaque)->fd, 0, pb);
}

int tc_output_io_close2(AVFormatContext *s, AVIOContext *pb)
{
    (void)s;
    tc_fdio_free(&pb);
    return 0;
}

/* ---- logging ---- */

static _Thread_local char tc_last_err[256];

__attribute__((format(printf, 3, 0)))
static void tc_log_cb(void *avcl, int level, const char *fmt, va_list vl)
{
    if (level <= AV_LOG_ERROR) {
        va_list cp;
        va_copy(cp, vl);
        vsnprintf(tc_last_err, sizeof tc_last_err, fmt, cp);
        va_end(cp);
        size_t n = strlen(tc_last_err);
        while (n > 0 && (tc_last_err[n - 1] == '\n' || tc_last_err[n - 1] == '\r'))
            tc_last_err[--n] = '\0';
    }
    av_log_default_callback(avcl, level, fmt, vl);
}

void tc_log_install(void)
{
    av_log_set_level(AV_LOG_ERROR);
    av_log_set_callback(tc_log_cb);
}

const char *tc_log_last_error(void)
{
    return tc_last_err;
}

void tc_log_clear(void)
{
    tc_last_err[0] = '\0';
}
