/* transcode: the only code that includes libav*. Executes a ct_plan: one
 * decode of the input feeds every output's filters and encoder.
 *
 * DESIGN: runs inside the sandboxed child (see sandbox/sandbox.h). It reads
 * the input and writes outputs only through file descriptors it is handed,
 * with libav's protocol and format whitelists set so no demuxer can open
 * anything else. AVERROR codes are mapped to MediaConvert error codes here,
 * at the boundary. */
#ifndef CT_TRANSCODE_H
#define CT_TRANSCODE_H

#include "core/plan.h"

/* MediaConvert-style error codes. */
enum {
    CT_MC_ERR_INPUT_UNREADABLE = 1010,
    CT_MC_ERR_NO_VIDEO = 1020,
    CT_MC_ERR_NO_AUDIO = 1021,
    CT_MC_ERR_UNSUPPORTED_CODEC = 1030,
    CT_MC_ERR_SETTINGS = 1040,
    CT_MC_ERR_DISK = 1050,
    CT_MC_ERR_BROKEN_INPUT = 1075,
    CT_MC_ERR_TRUNCATED_INPUT = 1076,
    CT_MC_ERR_UNKNOWN = 1999,
};

typedef struct {
    int error_code;              /* 0 on success, else CT_MC_ERR_* */
    char error_message[512];     /* names the input and the reason */
    double input_duration_s;
    struct {
        double duration_s;       /* of the written output */
        int width, height;       /* video size written (0 if none) */
        int64_t video_bitrate;   /* average, bits/s */
    } outputs[CT_PLAN_MAX_OUTPUTS];
    char warnings[512];          /* human-readable, "" if none */
} ct_transcode_result;

/* Progress callback: phase is "PROBING" or "TRANSCODING"; percent 0..100. */
typedef void (*ct_transcode_progress_fn)(void *ctx, const char *phase, int percent);

/* in_fd: input, readable and seekable. out_fds[i]: output i, opened
 * read-write (the MP4 muxer rewrites the file to put moov first).
 * Returns CT_OK when result->error_code == 0. */
ct_err ct_transcode_run(const ct_plan *plan, int in_fd, const int *out_fds,
                        ct_transcode_progress_fn progress, void *ctx, ct_transcode_result *result);

/* Several inputs (plan->n_inputs, at most CT_PLAN_MAX_INPUTS), in order:
 * in_fds[0] is plan->input_path, in_fds[i] plan->inputs[i].path. */
ct_err ct_transcode_run_inputs(const ct_plan *plan, const int *in_fds, int n_in, const int *out_fds,
                               ct_transcode_progress_fn progress, void *ctx, ct_transcode_result *result);

/* MediaConvert's Probe: opens in_fd through the same hardened path as a
 * transcode (nothing is decoded) and describes it as the wire's Container
 * JSON {"format","duration","bitRate","tracks":[...]} (*json_out, heap).
 * CT_ERR_INVALID with result->error_code/message when the input cannot be
 * read. Runs in the sandboxed child (ct_sandbox_probe). */
ct_err ct_transcode_probe(int in_fd, char **json_out, ct_transcode_result *result);

/* Opens and closes a tiny encoder for each encoder in the plan that needs
 * one-time set-up from /proc or /sys (today libx265: its thread pools ask
 * libnuma for CPU maps, which libnuma then caches), without touching the
 * input, so that happens before the sandbox forbids opening files.
 * Without it x265 runs without its thread pool. The sandbox child calls it
 * just before installing seccomp. */
void ct_transcode_preload(const ct_plan *plan);

#endif
