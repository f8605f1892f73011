/* tc_bundle: the child's side of multi-file outputs (see core/plan.h).
 *
 * libav's segmenting muxers (hls) open every playlist and segment through
 * AVFormatContext.io_open; here that returns an in-memory dynamic buffer,
 * and io_close2 appends the finished buffer as one bundle record to the
 * output's fd. No file is ever opened by name in the child, so the seccomp
 * allow-list stays as it is (openat still fails with EACCES). Names are
 * checked with ct_plan_name_ok here and again by the parent. */
#include "transcode/tc_internal.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static int pwrite_all(int fd, const void *buf, size_t n, int64_t off)
{
    const unsigned char *p = buf;
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return AVERROR(w < 0 ? errno : EIO);
        p += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

static int name_is_media(const char *name)
{
    size_t n = strlen(name);
    return !(n >= 5 && strcmp(name + n - 5, ".m3u8") == 0) && !(n >= 4 && strcmp(name + n - 4, ".mpd") == 0);
}

int tc_bundle_put(tc_out *o, const char *name, const uint8_t *data, size_t size)
{
    tc_bundle *b = &o->bundle;
    unsigned char hdr[CT_BUNDLE_HDR];
    size_t nl = strlen(name);
    int ret;
    if (!ct_plan_name_ok(name))
        return b->err = AVERROR(EPERM);
    memcpy(hdr, CT_BUNDLE_MAGIC, 4);
    for (int i = 0; i < 4; i++)
        hdr[4 + i] = (unsigned char)(nl >> (8 * i));
    for (int i = 0; i < 8; i++)
        hdr[8 + i] = (unsigned char)((uint64_t)size >> (8 * i));
    if ((ret = pwrite_all(b->fd, hdr, sizeof hdr, b->pos)) < 0 ||
        (ret = pwrite_all(b->fd, name, nl, b->pos + CT_BUNDLE_HDR)) < 0 ||
        (ret = pwrite_all(b->fd, data, size, b->pos + CT_BUNDLE_HDR + (int64_t)nl)) < 0)
        return b->err = ret;
    b->pos += CT_BUNDLE_HDR + (int64_t)nl + (int64_t)size;
    b->files++;
    if (name_is_media(name))
        b->media_bytes += (int64_t)size;
    return 0;
}

int tc_bundle_io_open(AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                      AVDictionary **opts)
{
    tc_out *o = s->opaque;
    (void)opts;
    *pb = NULL;
    if (!o || flags != AVIO_FLAG_WRITE || !url || !ct_plan_name_ok(url)) {
        av_log(NULL, AV_LOG_ERROR, "cattube: refused open of '%.200s'\n", url ? url : "");
        return AVERROR(EPERM);
    }
    for (int i = 0; i < TC_BUNDLE_OPEN_MAX; i++) {
        tc_bfile *f = &o->bundle.open[i];
        if (f->pb)
            continue;
        int ret = avio_open_dyn_buf(&f->pb);
        if (ret < 0)
            return ret;
        snprintf(f->name, sizeof f->name, "%s", url);
        *pb = f->pb;
        return 0;
    }
    return AVERROR(EMFILE);
}

static int close_entry(tc_out *o, tc_bfile *f, int keep)
{
    uint8_t *data = NULL;
    int size = avio_close_dyn_buf(f->pb, &data);
    int ret = keep && size >= 0 ? tc_bundle_put(o, f->name, data, (size_t)size) : 0;
    av_free(data);
    f->pb = NULL;
    f->name[0] = '\0';
    return ret;
}

int tc_bundle_io_close2(AVFormatContext *s, AVIOContext *pb)
{
    tc_out *o = s->opaque;
    if (!o || !pb)
        return 0;
    for (int i = 0; i < TC_BUNDLE_OPEN_MAX; i++)
        if (o->bundle.open[i].pb == pb)
            return close_entry(o, &o->bundle.open[i], 1);
    return AVERROR(EINVAL);
}

/* Error paths: drops buffers libav never closed. */
void tc_bundle_discard(tc_out *o)
{
    for (int i = 0; i < TC_BUNDLE_OPEN_MAX; i++)
        if (o->bundle.open[i].pb)
            close_entry(o, &o->bundle.open[i], 0);
}
