/* sandbox_result: ct_transcode_result as one JSON line ("result {...}"). */
#include "sandbox/sandbox_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

char *ct_sandbox_result_to_json(const ct_transcode_result *r, int n_outputs)
{
    json_t *outs = json_array();
    if (!outs)
        return NULL;
    for (int i = 0; i < n_outputs && i < CT_PLAN_MAX_OUTPUTS; i++)
        json_array_append_new(outs, json_pack("{s:f, s:i, s:i, s:I}", "duration_s",
                                              r->outputs[i].duration_s, "width", r->outputs[i].width,
                                              "height", r->outputs[i].height, "video_bitrate",
                                              (json_int_t)r->outputs[i].video_bitrate));
    json_t *root = json_pack("{s:i, s:s, s:f, s:s, s:o}", "error_code", r->error_code,
                             "error_message", r->error_message, "input_duration_s",
                             r->input_duration_s, "warnings", r->warnings, "outputs", outs);
    if (!root)
        return NULL;
    char *s = json_dumps(root, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(root);
    return s;
}

static void copy_str(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

ct_err ct_sandbox_result_from_json(const char *json, ct_transcode_result *r)
{
    json_error_t je;
    json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &je), *outs = NULL, *o;
    const char *msg = NULL, *warn = NULL;
    ct_err rc = CT_ERR_INVALID;
    size_t i;
    memset(r, 0, sizeof *r);
    if (!root || json_unpack_ex(root, &je, 0, "{s:i, s:s, s:F, s:s, s:o}", "error_code",
                                &r->error_code, "error_message", &msg, "input_duration_s",
                                &r->input_duration_s, "warnings", &warn, "outputs", &outs) != 0 ||
        !json_is_array(outs) || json_array_size(outs) > CT_PLAN_MAX_OUTPUTS)
        goto cleanup;
    copy_str(r->error_message, sizeof r->error_message, msg);
    copy_str(r->warnings, sizeof r->warnings, warn);
    json_array_foreach(outs, i, o) {
        json_int_t vb = 0;
        if (json_unpack_ex(o, &je, 0, "{s:F, s:i, s:i, s:I}", "duration_s", &r->outputs[i].duration_s,
                           "width", &r->outputs[i].width, "height", &r->outputs[i].height,
                           "video_bitrate", &vb) != 0)
            goto cleanup;
        r->outputs[i].video_bitrate = (int64_t)vb;
    }
    rc = CT_OK;
cleanup:
    json_decref(root);
    return rc;
}
