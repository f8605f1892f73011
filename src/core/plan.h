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

typedef enum { CT_VCODEC_NONE = 0, CT_VCODEC_H264, CT_VCODEC_H265, CT_VCODEC_AV1 } ct_vcodec;
typedef enum { CT_ACODEC_NONE = 0, CT_ACODEC_AAC } ct_acodec;
typedef enum { CT_RC_QVBR = 0, CT_RC_CBR, CT_RC_VBR } ct_rc_mode;
typedef enum { CT_CONTAINER_MP4 = 0 } ct_container;

typedef struct {
    ct_vcodec codec;       /* CT_VCODEC_NONE: no video stream in this output */
    int width, height;     /* 0 = derive (keep aspect; both 0 = input display size) */
    ct_rc_mode rc_mode;
    int qvbr_level;        /* 1..10, used when rc_mode == CT_RC_QVBR (default 7) */
    int64_t bitrate;       /* bits/s; CBR/VBR target */
    int64_t max_bitrate;   /* bits/s; QVBR cap and VBR peak; 0 = none */
    int64_t hrd_buffer;    /* bits; 0 = 2 * max_bitrate */
    int gop_frames;        /* 0 = encoder default */
    int scene_change_detect;
} ct_plan_video;

typedef struct {
    ct_acodec codec;       /* CT_ACODEC_NONE: no audio stream in this output */
    int64_t bitrate;       /* bits/s */
    int channels;          /* 1 or 2 */
    int sample_rate;       /* Hz */
} ct_plan_audio;

typedef struct {
    ct_container container;
    char path[CT_PLAN_PATH_MAX]; /* output file path (worker's scratch dir) */
    ct_plan_video video;
    ct_plan_audio audio;
} ct_plan_output;

typedef struct {
    char input_path[CT_PLAN_PATH_MAX];
    int n_outputs;
    ct_plan_output outputs[CT_PLAN_MAX_OUTPUTS];
    /* caps checked after probing, before decoding (0 = no cap) */
    int max_width, max_height;
    double max_duration_s;
} ct_plan;

/* Serialization for the parent -> child pipe. to_json returns a heap string. */
char *ct_plan_to_json(const ct_plan *p);
ct_err ct_plan_from_json(const char *json, ct_plan *p, char *err, size_t errlen);

const char *ct_vcodec_name(ct_vcodec c);   /* "H_264", "H_265", "AV1", "NONE" */

#endif
