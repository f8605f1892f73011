/* transcode internals: shared between the tc_*.c files of this module only.
 *
 * One tc_job holds the demuxer, the (at most) two decoders and one tc_out per
 * plan output. Each tc_out owns its own filter graphs (built lazily from the
 * first decoded frame, rebuilt when frame parameters change), encoders and
 * MP4 muxer. Decoded frames are pushed into every output's graph with
 * AV_BUFFERSRC_FLAG_KEEP_REF, so the input is decoded exactly once. */
#ifndef CT_TC_INTERNAL_H
#define CT_TC_INTERNAL_H

#include "transcode/transcode.h"

#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavformat/avformat.h>

/* Parameters a filter graph was built for; a change forces a rebuild. */
typedef struct {
    int w, h, format, rotation, prep;
    AVRational sar;
    int sample_rate;
    AVChannelLayout ch_layout;
} tc_graph_key;

typedef struct {
    AVFilterGraph *graph;
    AVFilterContext *src, *sink;
    tc_graph_key key;
    int64_t in_end;         /* pts + duration of the last frame pushed (source time base) */
} tc_graph;

typedef struct {
    AVCodecContext *enc;
    AVStream *st;
    tc_graph g;
    int64_t last_pts;       /* encoder time base; drops non-increasing frames */
    int64_t end_ts;         /* max pts + duration written, stream time base */
    int64_t bytes;
    int64_t frames;
    int flushed;            /* end-of-stream sent to the encoder */
    int64_t seg_idx;        /* segment of the last frame (forced keyframes) */
    int64_t frag_idx;       /* fragment of the last frame (DASH/CMAF FragmentLength) */
} tc_track;

#define TC_BUNDLE_OPEN_MAX 8

typedef struct {
    AVIOContext *pb;        /* dynamic buffer handed to libav; NULL = free slot */
    char name[CT_PLAN_NAME_MAX];
} tc_bfile;

/* Multi-file output: records appended to fd (see tc_bundle.c). */
typedef struct {
    int fd;
    int64_t pos;
    int err;                /* sticky AVERROR of a failed record write */
    int64_t files, media_bytes;
    tc_bfile open[TC_BUNDLE_OPEN_MAX];
} tc_bundle;

/* One fMP4 segment written (DASH, CMAF, HLS fMP4). */
typedef struct {
    int64_t start;          /* earliest pts, stream time base */
    int64_t bytes;          /* file size */
    int64_t pkt_bytes;      /* packet payload, for bitrates */
} tc_seg;

/* fMP4 segmenter state (tc_fmp4.c): the muxer writes into a dynamic
 * buffer that is closed into one file at every segment cut. */
typedef struct {
    int on;
    int64_t cur_seg, cur_frag;  /* segment/fragment index of the last packet; -1 before */
    tc_seg *segs;
    int64_t n_segs;
    int64_t init_bytes;
    int shift_set;
    int64_t shift[2];           /* video, audio: added by the muxer (MAKE_ZERO) */
    char vcodecs[64], acodecs[64]; /* RFC 6381 strings from the init segment */
} tc_fmp4;

typedef struct {
    int index;
    const ct_plan_output *po;
    AVFormatContext *fmt;   /* NULL for frame capture (no muxer) */
    int header_written;
    int target_w, target_h; /* video size written */
    tc_track v, a;          /* v.enc / a.enc NULL when absent */
    tc_bundle bundle;
    int64_t *seg_bytes;     /* HLS: packet bytes per segment index */
    int64_t seg_limit;      /* segments at most (MinFinalSegmentLength); 0 = no limit */
    int64_t n_seg, pkt_bytes;
    int64_t captures;       /* frame capture: JPEGs written */
    tc_fmp4 fm;
} tc_out;

/* One opened input. The current one is also in tc_job's in/vidx/... fields,
 * where tc_input.c opens it (see tc_timeline.c). */
/* Decoded media kinds: TC_VIDEO, then one per audio source slot
 * (TC_AUDIO + ct_plan_output.audio.source). */
#define TC_VIDEO 0
#define TC_AUDIO 1
#define TC_KINDS (1 + CT_PLAN_MAX_AUDIO)

typedef struct {
    AVFormatContext *in;
    AVIOContext *in_pb;
    int vidx, aidx[CT_PLAN_MAX_AUDIO];
    AVCodecContext *vdec, *adec[CT_PLAN_MAX_AUDIO];
    int rotation, disp_w, disp_h;
    int interlaced;         /* the video stream's field order says interlaced */
    AVRational frame_rate;
    double duration_s;      /* container duration, 0 when unknown */
    int used;               /* read before: seek back before reading again */
} tc_src;

/* One part of the output timeline: input src from start_s to end_s (input
 * time, seconds; end_s < 0 = to the input's end). */
typedef struct {
    int src;
    double start_s, end_s;
} tc_part;

#define TC_MAX_PARTS (CT_PLAN_MAX_INPUTS * CT_PLAN_MAX_CLIPS)

typedef struct {
    const ct_plan *plan;
    ct_transcode_result *res;
    ct_transcode_progress_fn progress;
    void *pctx;
    int last_pct;

    AVFormatContext *in;
    AVIOContext *in_pb;
    int vidx;                /* -1 when absent or unused */
    int aidx[CT_PLAN_MAX_AUDIO]; /* per audio source slot; -1 when absent or unused */
    AVCodecContext *vdec, *adec[CT_PLAN_MAX_AUDIO];
    int n_aud;               /* audio source slots (plan n_audio, at least 1) */
    int interlaced;          /* current input's video is flagged interlaced */
    int rotation;            /* clockwise degrees to apply: 0, 90, 180, 270 */
    int disp_w, disp_h;      /* display size after SAR and rotation */
    AVRational frame_rate;   /* guessed frame rate of the first input */
    double duration_s;       /* the output timeline's expected length, 0 when unknown */

    tc_src src[CT_PLAN_MAX_INPUTS];
    int n_src, cur_src;
    tc_part parts[TC_MAX_PARTS];
    int n_parts, cur_part;
    int joined;              /* several parts, or a clipped one: audio gaps get filled */
    AVRational vtb, atb;     /* time bases of the frames fed to every graph */
    double offset_s;         /* output time where the current part starts */
    double part_end[TC_KINDS]; /* furthest end decoded in the part per kind, input time */
    int done[TC_KINDS];      /* the kind reached the part's end (or is not decoded) */

    tc_out out[CT_PLAN_MAX_OUTPUTS];
    int n_out;
    AVPacket *pkt, *opkt;
    AVFrame *frame, *filt;

    int64_t packets, dec_errors, consec_errors;
    int64_t vframes, aframes;
    int64_t next_vpts;       /* synthesized pts for frames without one */
    double media_end_s;      /* furthest decoded timestamp, seconds */
    int failed;
} tc_job;

/* tc_io.c */
int tc_fdio_alloc(int fd, int writable, AVIOContext **pb);
void tc_fdio_free(AVIOContext **pb);
int tc_input_io_open(AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                     AVDictionary **opts);
int tc_output_io_open(AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                      AVDictionary **opts);
int tc_output_io_close2(AVFormatContext *s, AVIOContext *pb);
void tc_log_install(void);
const char *tc_log_last_error(void);
void tc_log_clear(void);

/* tc_bundle.c */
int tc_bundle_put(tc_out *o, const char *name, const uint8_t *data, size_t size);
int tc_bundle_io_open(AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                      AVDictionary **opts);
int tc_bundle_io_close2(AVFormatContext *s, AVIOContext *pb);
void tc_bundle_discard(tc_out *o);

/* tc_hls.c */
int tc_hls_open_muxer(tc_job *j, tc_out *o, AVDictionary **opts);
void tc_hls_count(tc_out *o, AVPacket *pkt, AVRational tb);
int64_t tc_seg_limit(const tc_job *j, const ct_plan_output *po);
int tc_hls_force_key(tc_out *o, tc_track *t, const AVFrame *f);
int tc_hls_write_masters(tc_job *j);

/* tc_fmp4.c */
int tc_fmp4_open_muxer(tc_job *j, tc_out *o, AVDictionary **opts);
int tc_fmp4_after_header(tc_job *j, tc_out *o);
int tc_fmp4_write(tc_job *j, tc_out *o, tc_track *t, AVPacket *pkt);
int tc_fmp4_finish(tc_job *j, tc_out *o);
void tc_fmp4_close(tc_out *o);
double tc_fmp4_seg_seconds(const tc_out *o, int64_t k);
int64_t tc_fmp4_shift(const tc_out *o, const tc_track *t);
void tc_fmp4_bandwidth(const tc_out *o, int64_t *avg, int64_t *peak);
void tc_fmp4_seg_name(const tc_out *o, int64_t k, char *buf, size_t n);
void tc_fmp4_init_name(const tc_out *o, char *buf, size_t n);

/* tc_mpd.c */
int tc_mpd_write(tc_job *j, tc_out *m, const char *name);

/* transcode.c */
int tc_fail(tc_job *j, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void tc_warn(tc_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *tc_averr(int err, char *buf, size_t n);

/* tc_timeline.c */
int tc_timeline_open(tc_job *j, const int *in_fds, int n_in);
int tc_timeline_part_begin(tc_job *j, int k);
int tc_timeline_part_end(tc_job *j);
int tc_timeline_frame(tc_job *j, AVFrame *f, int kind);
int tc_timeline_all_done(const tc_job *j);
void tc_timeline_close(tc_job *j);

/* tc_input.c */
int tc_input_open(tc_job *j, int in_fd, int k);
void tc_input_close(tc_job *j);
AVStream *tc_input_stream(const tc_job *j, int kind); /* the current input's stream of a kind */
int tc_input_has_audio(const tc_job *j, const ct_plan_output *po); /* 1: po's audio source exists */
/* The language to label po's audio with: the first input's track tag
 * (LanguageCodeControl FOLLOW_INPUT), else the configured code, else "und". */
const char *tc_input_audio_lang(const tc_job *j, const ct_plan_output *po);

/* tc_filter.c */
int tc_graph_push(tc_job *j, tc_out *o, tc_track *t, AVFrame *frame, int is_video);
AVRational tc_out_rate(const tc_job *j, const ct_plan_video *pv); /* the output's constant frame rate */
void tc_graph_free(tc_graph *g);

/* tc_output.c */
int tc_output_open(tc_job *j, tc_out *o, int fd);
int tc_output_drain(tc_job *j, tc_out *o, tc_track *t, int flush);
int tc_output_finish(tc_job *j, tc_out *o);
void tc_output_close(tc_out *o);

#endif
