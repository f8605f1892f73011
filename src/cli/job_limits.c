/* job_limits.c: the transcode limits `serve` and `worker` share (cli.h).
 *
 * DESIGN: an operator caps what one job may cost before any of it is
 * decoded (input dimensions and duration, checked by the sandboxed child
 * right after probing: MediaConvert error 1040-style 400s would be too late,
 * the input is unknown at CreateJob) and while it runs (the sandbox's
 * address space, CPU time and wall clock). Defaults: 8192x8192 in either
 * orientation (8K DCI and 8K UHD fit), 24 h of media, 32 streams, and the sandbox's own
 * defaults (8 GiB, 6 h CPU, 6 h wall). */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>

#define DEFAULT_MAX_SIDE 8192
#define DEFAULT_MAX_DURATION_S (24.0 * 3600)
#define DEFAULT_MAX_STREAMS 32

const char ct_cli_limits_usage[] =
    "  --max-input-size WxH     refuse inputs larger than this, either orientation\n"
    "                           (default 8192x8192; 0x0 = no cap)\n"
    "  --max-input-duration S   refuse inputs longer than S seconds (default 86400; 0 = none)\n"
    "  --max-input-streams N    refuse inputs with more streams than N (default 32)\n"
    "  --job-memory-mb N        address-space limit of a transcode child (default 8192)\n"
    "  --job-cpu-seconds N      CPU-time limit of a transcode child (default 21600)\n"
    "  --job-wall-seconds N     wall-clock limit of a transcode child (default 21600)\n";

void ct_cli_limits_defaults(ct_cli_job_limits *l)
{
    *l = (ct_cli_job_limits){.max_w = DEFAULT_MAX_SIDE, .max_h = DEFAULT_MAX_SIDE,
                             .max_streams = DEFAULT_MAX_STREAMS,
                             .max_dur_s = DEFAULT_MAX_DURATION_S};
    /* sb zeros: the sandbox's defaults (sandbox.h) */
}

long long ct_cli_whole(const char *s, long long lo, long long hi)
{
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    return *s >= '0' && *s <= '9' && end && !*end && v >= lo && v <= hi ? v : -1;
}

static int bad(const char *opt, const char *arg, const char *want)
{
    fprintf(stderr, "cattube: %s '%s': expected %s\n", opt, arg, want);
    return -1;
}

int ct_cli_limit_option(int c, const char *arg, ct_cli_job_limits *l)
{
    long long v;
    switch (c - CT_CLI_LIMIT_OPT_BASE) {
    case 0: {
        int w = 0, h = 0, n = 0;
        if (sscanf(arg, "%d%*[xX]%d%n", &w, &h, &n) != 2 || arg[n] || w < 0 || h < 0 ||
            w > 65536 || h > 65536 || (w == 0) != (h == 0))
            return bad("--max-input-size", arg, "WxH, e.g. 3840x2160 (0x0: no cap)");
        l->max_w = w;
        l->max_h = h;
        return 1;
    }
    case 1:
        if ((v = ct_cli_whole(arg, 0, 100LL * 86400 * 365)) < 0)
            return bad("--max-input-duration", arg, "whole seconds (0: no cap)");
        l->max_dur_s = (double)v;
        return 1;
    case 2:
        if ((v = ct_cli_whole(arg, 64, 1LL << 22)) < 0)
            return bad("--job-memory-mb", arg, "64..4194304");
        l->sb.mem_limit_bytes = v << 20;
        return 1;
    case 3:
        if ((v = ct_cli_whole(arg, 1, 30LL * 86400)) < 0)
            return bad("--job-cpu-seconds", arg, "1..2592000");
        l->sb.cpu_limit_s = v;
        return 1;
    case 4:
        if ((v = ct_cli_whole(arg, 1, 30LL * 86400)) < 0)
            return bad("--job-wall-seconds", arg, "1..2592000");
        l->sb.wall_limit_ms = v * 1000;
        return 1;
    case 5:
        if ((v = ct_cli_whole(arg, 1, 1000)) < 0)
            return bad("--max-input-streams", arg, "1..1000");
        l->max_streams = (int)v;
        return 1;
    default:
        return 0;
    }
}
