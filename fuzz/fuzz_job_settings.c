/* libFuzzer target: a CreateJob body through the MediaConvert model check
 * (normalisation), the supported-subset validation and the plan builder.
 *
 * Invariants (abort on violation):
 *  - a normalised body is a fixed point: checking it again gives equal JSON;
 *  - whatever validates plans to 1..CT_PLAN_MAX_OUTPUTS outputs with known
 *    codecs and a bucket/key per output, and ct_mc_job_plan on the stored form
 *    agrees with the in-memory plan;
 *  - an error always comes with a message. */
#include "mc/mc_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_plan(const ct_plan *p, const ct_mc_dest *dests, const char *bucket,
                       const char *key)
{
    if (p->n_outputs < 1 || p->n_outputs > CT_PLAN_MAX_OUTPUTS || !bucket[0] || !key[0])
        abort();
    for (int i = 0; i < p->n_outputs; i++) {
        const ct_plan_output *o = &p->outputs[i];
        if (o->video.codec > CT_VCODEC_VP8 || o->audio.codec > CT_ACODEC_VORBIS)
            abort();
        if (o->video.codec == CT_VCODEC_NONE && o->audio.codec == CT_ACODEC_NONE)
            abort();
        if (o->video.rc_mode == CT_RC_QVBR && o->video.codec != CT_VCODEC_NONE &&
            o->video.codec != CT_VCODEC_JPEG && (o->video.qvbr_level < 1 || o->video.qvbr_level > 10))
            abort();
        if (p->n_inputs < 1 || p->n_inputs > CT_PLAN_MAX_INPUTS)
            abort();
        if (o->path[0] || (o->audio.codec && (o->audio.channels < 1 || o->audio.channels > 2)))
            abort();
        /* a multi-file output's key is a prefix and may be "" (files at the
         * bucket root, "s3://b/name" destinations); its stem names the files */
        if (!dests[i].bucket[0] || strlen(dests[i].key) > 1024)
            abort();
        if (dests[i].multi ? !dests[i].stem[0] : !dests[i].key[0])
            abort();
    }
}

static void check_stored(const json_t *norm, const ct_plan *want)
{
    static ct_plan again;
    static ct_mc_dest dests[CT_PLAN_MAX_OUTPUTS];
    char bucket[64], key[1025], msg[512];
    char *spec = json_dumps(norm, JSON_COMPACT);
    if (!spec)
        return;
    if (ct_mc_job_plan(spec, &again, bucket, key, dests, msg, sizeof msg) != CT_OK)
        abort();
    if (again.n_outputs != want->n_outputs)
        abort();
    free(spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ct_plan plan;
    static ct_mc_dest dests[CT_PLAN_MAX_OUTPUTS];
    char bucket[64], key[1025];
    mc_diag d;
    if (size > 65536)
        return 0;
    json_t *warnings = json_array();
    mc_diag_init(&d, "", warnings);
    json_t *body = mc_json_load((const char *)data, size, &d);
    json_t *norm = body ? mc_model_check("CreateJobRequest", body, &d) : NULL;
    if (norm) {
        mc_diag d2;
        mc_diag_init(&d2, "", NULL);
        json_t *again = mc_model_check("CreateJobRequest", norm, &d2);
        if (!again || !json_equal(again, norm))
            abort();
        json_decref(again);
        size_t p = mc_path_key(&d, "settings");
        int rc = mc_settings_plan(json_object_get(norm, "settings"), &plan, bucket, key, dests, &d);
        mc_path_pop(&d, p);
        if (rc == 0) {
            check_plan(&plan, dests, bucket, key);
            check_stored(norm, &plan);
        }
        /* the same settings merged over themselves are unchanged */
        json_t *m = mc_merge(norm, norm);
        if (!json_equal(m, norm))
            abort();
        json_decref(m);
    }
    if (d.failed && !d.msg[0])
        abort();
    json_decref(norm);
    json_decref(body);
    json_decref(warnings);
    return 0;
}
