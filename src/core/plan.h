/* plan: the transcode plan, the one data type shared by mc (which builds it
 * from MediaConvert settings), the worker and sandbox (which ship it to the
 * child as JSON) and transcode (which executes it).
 *
 * DESIGN: the plan is fully resolved: no defaults left to guess, no S3 URLs.
 * Inputs and outputs are local file paths chosen by the worker; the child
 * never sees bucket names or keys. Strings are fixed-size so a plan is a
 * plain value that can be copied and freed with nothing but free(). */
#ifndef CT_PLAN_H
#define CT_PLAN_H

#include "core/core.h"

#define CT_PLAN_MAX_OUTPUTS 16
#define CT_PLAN_PATH_MAX 1024

typedef enum {
    CT_VCODEC_NONE = 0, CT_VCODEC_H264, CT_VCODEC_H265, CT_VCODEC_AV1, CT_VCODEC_JPEG,
    CT_VCODEC_VP9, CT_VCODEC_VP8
} ct_vcodec;
typedef enum {
    CT_ACODEC_NONE = 0, CT_ACODEC_AAC, CT_ACODEC_OPUS, CT_ACODEC_MP3, CT_ACODEC_VORBIS
} ct_acodec;
typedef enum { CT_RC_QVBR = 0, CT_RC_CBR, CT_RC_VBR } ct_rc_mode;
typedef enum { CT_FR_DUPLICATE_DROP = 0, CT_FR_INTERPOLATE, CT_FR_FRAMEFORMER } ct_fr_algo;
/* VideoPreprocessors.Deinterlacer. Mode: AUTO (no Deinterlacer: only an
 * input flagged interlaced is deinterlaced, frame by frame as flagged),
 * DEINTERLACE, INVERSE_TELECINE, ADAPTIVE; OFF is never planned by mc
 * (kept for plans built by hand). Algorithm: how fields become frames. */
typedef enum { CT_DEINT_AUTO = 0, CT_DEINT_DEINTERLACE, CT_DEINT_IVTC, CT_DEINT_ADAPTIVE, CT_DEINT_OFF } ct_deint_mode;
typedef enum { CT_VPROF_DEFAULT = 0, CT_VPROF_BASELINE, CT_VPROF_MAIN, CT_VPROF_HIGH } ct_vprofile;
/* VideoSelector Rotate: AUTO (the default here) follows the input's display
 * matrix; DEGREE_0 ignores it; the others turn the picture clockwise. */
typedef enum { CT_ROTATE_AUTO = 0, CT_ROTATE_0, CT_ROTATE_90, CT_ROTATE_180, CT_ROTATE_270 } ct_rotate;
typedef enum { CT_DEINT_INTERPOLATE = 0, CT_DEINT_BLEND, CT_DEINT_LINEAR } ct_deint_algo;
/* MP4, MOV, MKV, WEBM, MP3 (container RAW with MP3 audio): one file at
 * path (mp4/mov with moov first). The others are multi-file outputs: path names a
 * directory and the child writes a bundle of named files (see
 * sandbox/sandbox.h) that the parent unpacks there:
 *   HLS_TS: NAME.m3u8 (variant playlist), NAME_00001.ts segments and, when
 *     master[0], MASTER (the group's master playlist, listing every output
 *     of its group);
 *   HLS_FMP4 (HLS group, container CMFC): NAME.m3u8, NAMEinit.mp4,
 *     NAME_00001.mp4 ... and MASTER as for HLS_TS;
 *   DASH (DASH ISO group): NAMEinit.mp4, NAME_000000001.mp4 ... and, when
 *     master[0], MASTER (the group's .mpd);
 *   CMAF: NAMEinit.cmfv|.cmfa, NAME_000000001.cmfv|.cmfa ..., NAME.m3u8
 *     and, when master[0], MASTER (BASE.m3u8) plus BASE.mpd;
 *   JPEG: NAME.0000000.jpg, NAME.0000001.jpg, ... (frame capture).
 * The fMP4 containers (HLS_FMP4, DASH, CMAF) carry one track per output
 * except HLS_FMP4, which may mux video and audio. */
typedef enum {
    CT_CONTAINER_MP4 = 0, CT_CONTAINER_HLS_TS, CT_CONTAINER_HLS_FMP4, CT_CONTAINER_JPEG,
    CT_CONTAINER_DASH, CT_CONTAINER_CMAF, CT_CONTAINER_MOV, CT_CONTAINER_MKV, CT_CONTAINER_WEBM,
    CT_CONTAINER_MP3
} ct_container;

#define CT_PLAN_NAME_MAX 256

typedef struct {
    ct_vcodec codec;       /* CT_VCODEC_NONE: no video stream in this output */
    int width, height;     /* 0 = derive (keep aspect; both 0 = input display size) */
    int stretch;           /* ScalingBehavior STRETCH_TO_OUTPUT; 0 = DEFAULT: letterbox */
    ct_rc_mode rc_mode;
    int qvbr_level;        /* 1..10, used when rc_mode == CT_RC_QVBR (default 7) */
    int64_t bitrate;       /* bits/s; CBR/VBR target */
    int64_t max_bitrate;   /* bits/s; QVBR cap and VBR peak; 0 = none */
    int64_t hrd_buffer;    /* bits; 0 = 2 * max_bitrate */
    int gop_frames;        /* 0 = encoder default (or gop_ms) */
    int gop_ms;            /* GOP in milliseconds (gopSizeUnits SECONDS); 0 = gop_frames */
    /* FramerateControl SPECIFIED: output frame rate fr_num/fr_den (0/0 =
     * the input's), converted with fr_algo */
    int fr_num, fr_den;
    int fr_algo;           /* CT_FR_DUPLICATE_DROP, CT_FR_INTERPOLATE, CT_FR_FRAMEFORMER */
    int scene_change_detect;
    int deint_mode;        /* ct_deint_mode */
    int deint_algo;        /* ct_deint_algo */
    int deint_force;       /* Control FORCE_ALL_FRAMES: every frame, flagged or not */
    /* frame capture (codec JPEG): one frame every fc_den/fc_num seconds
     * starting with the first, at most fc_max captures (0 = no cap),
     * JPEG quality 1..100 */
    int fc_num, fc_den, fc_max, fc_quality;
    /* H.264 / H.265 CodecProfile and CodecLevel (0 = the encoder's choice) */
    int profile;           /* ct_vprofile */
    int level;             /* codecLevel x 10 (31 = 3.1); 0 = AUTO */
    int bit_depth;         /* 10 (H.264 HIGH_10BIT, H.265 MAIN10_*, AV1 BIT_10) or 0 = 8 */
    int high_tier;         /* H.265 *_HIGH profiles */
} ct_plan_video;

typedef struct {
    ct_acodec codec;       /* CT_ACODEC_NONE: no audio stream in this output */
    int64_t bitrate;       /* bits/s (unused when vbr_quality is set) */
    int vbr_quality;       /* MP3 VBR 0..9, Vorbis -1..10; VBR_NONE = bitrate mode */
    int channels;          /* 1 or 2 */
    int sample_rate;       /* Hz */
    int source;            /* audio source slot (0..CT_PLAN_MAX_AUDIO-1): which
                            * ct_plan_input.audio[] selection feeds this output */
    char lang[16];         /* LanguageCode / CustomLanguageCode, lower case; "" = none */
    int lang_follow;       /* LanguageCodeControl FOLLOW_INPUT: the input track's tag wins */
    char stream_name[64];  /* StreamName (HLS rendition NAME); "" = the output's name */
} ct_plan_audio;

typedef struct {
    ct_container container;
    char path[CT_PLAN_PATH_MAX]; /* output file path (worker's scratch dir);
                                  * a directory for multi-file containers */
    char name[CT_PLAN_NAME_MAX]; /* multi-file: file name stem (basename + nameModifier) */
    char master[CT_PLAN_NAME_MAX]; /* HLS: master playlist file name, set on the
                                    * first output of its group only */
    int group;                   /* output group index (manifest membership) */
    int segment_length;          /* HLS/DASH/CMAF: seconds per segment (keyframe
                                  * at every segment start) */
    int fragment_length;         /* DASH/CMAF/HLS_FMP4: seconds per fMP4 fragment
                                  * (0 = one fragment per segment) */
    int min_buffer_ms;           /* DASH/CMAF: the MPD's minBufferTime */
    int min_final_ms;            /* HLS/DASH/CMAF MinFinalSegmentLength: a last segment
                                  * shorter than this joins the one before (0 = never) */
    int no_hls, no_dash;         /* CMAF: WriteHlsManifest / WriteDashManifest DISABLED */
    char base_url[CT_PLAN_PATH_MAX]; /* group's BaseUrl: prefix of the master playlist's
                                      * URIs (HLS, CMAF) and the MPD's BaseURL; "" = none.
                                      * No control characters, quotes, '<', '>' or '\\' */
    ct_plan_video video;
    ct_plan_audio audio;
} ct_plan_output;

#define CT_PLAN_MAX_INPUTS 8
#define CT_PLAN_MAX_CLIPS 8

/* A timecode HH:MM:SS:FF; h < 0 = not set. Frames count at the input's
 * frame rate, resolved by the child once it has probed the input. */
typedef struct {
    int h, m, s, f;
} ct_timecode;

typedef enum { CT_TC_EMBEDDED = 0, CT_TC_ZEROBASED, CT_TC_SPECIFIED } ct_tc_source;

/* Audio sources: each output's AudioSourceName names an audio selector;
 * the job's distinct names become slots 0..n_audio-1, and every input says
 * per slot which of its audio streams plays (an input without that
 * selector uses its DEFAULT selector, else its default track). Each slot
 * is decoded once per input. */
#define CT_PLAN_MAX_AUDIO 4
typedef enum { CT_ASEL_DEFAULT = 0, CT_ASEL_TRACK, CT_ASEL_PID, CT_ASEL_LANG } ct_asel_kind;
typedef struct {
    ct_asel_kind kind;     /* DEFAULT: the stream flagged default, else the first audio stream */
    int value;             /* TRACK: 1-based among the input's audio streams; PID: stream id */
    char lang[4];          /* LANG: ISO 639-2 code, lower case */
} ct_plan_asel;

/* One part of an input to use (InputClippings); an unset start is the
 * input's beginning, an unset end its end. */
typedef struct {
    ct_timecode start, end;
} ct_plan_clip;

/* Settings.Inputs[i]: the inputs are concatenated in order, each clipping
 * in its order (no clipping = the whole input). Timecodes are read against
 * tc_source: EMBEDDED = the input's own start timecode (00:00:00:00 when it
 * has none), ZEROBASED = 00:00:00:00, SPECIFIED = tc_start. */
typedef struct {
    char path[CT_PLAN_PATH_MAX]; /* input 0 uses ct_plan.input_path instead */
    ct_tc_source tc_source;
    ct_timecode tc_start;
    int n_clips;
    ct_plan_clip clips[CT_PLAN_MAX_CLIPS];
    ct_plan_asel audio[CT_PLAN_MAX_AUDIO]; /* per audio source slot */
    int rotate;                  /* ct_rotate */
    int deblock, denoise;        /* DeblockFilter / DenoiseFilter ENABLED (and FilterEnable
                                  * not DISABLE) */
    int filter_strength;         /* FilterStrength -5..5: their strength x 2^(s/5) */
} ct_plan_input;

typedef struct {
    char input_path[CT_PLAN_PATH_MAX];
    int n_inputs;                /* 0 or 1: one input (input_path) */
    int n_audio;                 /* audio source slots; 0 = one slot, default track */
    ct_plan_input inputs[CT_PLAN_MAX_INPUTS];
    int n_outputs;
    ct_plan_output outputs[CT_PLAN_MAX_OUTPUTS];
    /* caps checked after probing, before decoding (0 = no cap) */
    int max_width, max_height;
    double max_duration_s;
    int max_streams;             /* streams an input may have (0 = the engine's 32) */
} ct_plan;

/* Bundle: how a multi-file output crosses the sandbox boundary. The child
 * cannot create files; it appends one record per finished file to the one
 * fd it holds for the output: "CTB1", name length (u32 LE), data length
 * (u64 LE), name bytes (no NUL), data bytes. A later record with the same
 * name replaces an earlier one (playlists are rewritten per segment). The
 * parent validates every name with ct_plan_name_ok before creating it. */
#define CT_BUNDLE_MAGIC "CTB1"
#define CT_BUNDLE_HDR 16

/* Serialization for the parent -> child pipe. to_json returns a heap string. */
char *ct_plan_to_json(const ct_plan *p);
ct_err ct_plan_from_json(const char *json, ct_plan *p, char *err, size_t errlen);

#define CT_PLAN_VBR_NONE (-100)

const char *ct_vcodec_name(ct_vcodec c);   /* "H_264", "H_265", "AV1", "VP9", "VP8", "FRAME_CAPTURE", "NONE" */
const char *ct_acodec_name(ct_acodec c);   /* "AAC", "OPUS", "MP3", "VORBIS", "NONE" */

/* 1 when the output is a directory of files (HLS, DASH, CMAF, frame capture). */
int ct_plan_output_is_multi(const ct_plan_output *o);

/* 1 for the containers written as fragmented MP4 segments (HLS_FMP4, DASH, CMAF). */
int ct_plan_output_is_fmp4(const ct_plan_output *o);

/* 1 when name is acceptable as a file name inside a multi-file output:
 * 1..255 bytes, no '/', no control characters, no quote or backslash, not "." or "..", no
 * leading '.'. Checked by mc (names it plans), by the child (names libav
 * asks for) and by the parent (names it unpacks). */
int ct_plan_name_ok(const char *name);

/* 1 when url may stand in a playlist or an MPD as it is: no spaces or
 * control characters, no quotes, '<', '>' or '\\' ("" is fine). */
int ct_plan_url_ok(const char *url);

#endif
