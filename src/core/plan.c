#include "core/plan.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

const char *ct_vcodec_name(ct_vcodec c)
{
    switch (c) {
    case CT_VCODEC_H264: return "H_264";
    case CT_VCODEC_H265: return "H_265";
    case CT_VCODEC_AV1: return "AV1";
    case CT_VCODEC_JPEG: return "FRAME_CAPTURE";
    case CT_VCODEC_VP9: return "VP9";
    case CT_VCODEC_VP8: return "VP8";
    default: return "NONE";
    }
}

const char *ct_acodec_name(ct_acodec c)
{
    switch (c) {
    case CT_ACODEC_AAC: return "AAC";
    case CT_ACODEC_OPUS: return "OPUS";
    case CT_ACODEC_MP3: return "MP3";
    case CT_ACODEC_VORBIS: return "VORBIS";
    default: return "NONE";
    }
}

int ct_plan_output_is_multi(const ct_plan_output *o)
{
    return o->container == CT_CONTAINER_HLS_TS || o->container == CT_CONTAINER_JPEG ||
           ct_plan_output_is_fmp4(o);
}

int ct_plan_output_is_fmp4(const ct_plan_output *o)
{
    return o->container == CT_CONTAINER_HLS_FMP4 || o->container == CT_CONTAINER_DASH ||
           o->container == CT_CONTAINER_CMAF;
}

int ct_plan_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 255 || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f || c == '/' || c == '\\' || c == '"')
            return 0;
    }
    return 1;
}

int ct_plan_url_ok(const char *url)
{
    for (const unsigned char *c = (const unsigned char *)url; *c; c++)
        if (*c <= 0x20 || *c == 0x7f || *c == '"' || *c == '\'' || *c == '<' || *c == '>' || *c == '\\')
            return 0;
    return 1;
}

static json_t *output_to_json(const ct_plan_output *o)
{
    return json_pack("{s:i, s:s, s:s, s:s, s:s, s:i, s:[i, i, i, i, i, i], s:[i, i, i, i],"
                     " s:{s:i, s:i, s:i, s:i, s:i, s:I, s:I, s:I, s:i, s:i, s:[i, i, i, i], s:i, s:[i, i, i],"
                     " s:[i, i, i, i]}, s:{s:i, s:I, s:i, s:i, s:i, s:i, s:s, s:s, s:i}}",
                     "container", (int)o->container, "path", o->path, "name", o->name,
                     "master", o->master, "base_url", o->base_url, "group", o->group, "seg", o->segment_length,
                     o->fragment_length, o->min_buffer_ms, o->no_hls, o->no_dash, o->min_final_ms,
                     "fc", o->video.fc_num, o->video.fc_den, o->video.fc_max, o->video.fc_quality,
                     "video", "codec", (int)o->video.codec, "width", o->video.width,
                     "height", o->video.height, "rc_mode", (int)o->video.rc_mode,
                     "qvbr_level", o->video.qvbr_level, "bitrate", (json_int_t)o->video.bitrate,
                     "max_bitrate", (json_int_t)o->video.max_bitrate,
                     "hrd_buffer", (json_int_t)o->video.hrd_buffer,
                     "gop_frames", o->video.gop_frames,
                     "scene_change_detect", o->video.scene_change_detect,
                     "rate", o->video.gop_ms, o->video.fr_num, o->video.fr_den, o->video.fr_algo,
                     "stretch", o->video.stretch, "deint", o->video.deint_mode, o->video.deint_algo,
                     o->video.deint_force, "prof", o->video.profile, o->video.level, o->video.bit_depth,
                     o->video.high_tier,
                     "audio", "codec", (int)o->audio.codec, "bitrate", (json_int_t)o->audio.bitrate,
                     "channels", o->audio.channels, "sample_rate", o->audio.sample_rate,
                     "vbr_quality", o->audio.vbr_quality, "source", o->audio.source,
                     "lang", o->audio.lang, "stream_name", o->audio.stream_name, "lang_follow",
                     o->audio.lang_follow);
}

static json_t *tc_json(const ct_timecode *t)
{
    return json_pack("[i, i, i, i]", t->h, t->m, t->s, t->f);
}

static json_t *input_to_json(const ct_plan_input *in)
{
    json_t *clips = json_array();
    for (int i = 0; i < in->n_clips && i < CT_PLAN_MAX_CLIPS; i++)
        json_array_append_new(clips, json_pack("[o, o]", tc_json(&in->clips[i].start),
                                               tc_json(&in->clips[i].end)));
    json_t *audio = json_array();
    for (int i = 0; i < CT_PLAN_MAX_AUDIO; i++)
        json_array_append_new(audio, json_pack("[i, i, s]", (int)in->audio[i].kind, in->audio[i].value,
                                               in->audio[i].lang));
    return json_pack("{s:s, s:i, s:o, s:o, s:o, s:[i, i, i, i]}", "path", in->path, "tc_source",
                     (int)in->tc_source, "tc_start", tc_json(&in->tc_start), "clips", clips, "audio", audio,
                     "prep", in->rotate, in->deblock, in->denoise, in->filter_strength);
}

char *ct_plan_to_json(const ct_plan *p)
{
    json_t *outs = json_array(), *ins = json_array();
    for (int i = 0; i < p->n_outputs; i++)
        json_array_append_new(outs, output_to_json(&p->outputs[i]));
    for (int i = 0; i < p->n_inputs && i < CT_PLAN_MAX_INPUTS; i++)
        json_array_append_new(ins, input_to_json(&p->inputs[i]));
    json_t *root = json_pack("{s:s, s:o, s:i, s:o, s:i, s:i, s:f, s:i}", "input_path", p->input_path,
                             "inputs", ins, "n_audio", p->n_audio, "outputs", outs, "max_width",
                             p->max_width, "max_height", p->max_height, "max_duration_s", p->max_duration_s,
                             "max_streams", p->max_streams);
    if (!root)
        return NULL;
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}

static int copy_str(char *dst, size_t n, const char *src)
{
    size_t l = strlen(src);
    if (l >= n)
        return -1;
    memcpy(dst, src, l + 1);
    return 0;
}

static int tc_from_json(json_t *a, ct_timecode *t)
{
    json_error_t je;
    return json_unpack_ex(a, &je, JSON_STRICT, "[i, i, i, i]", &t->h, &t->m, &t->s, &t->f);
}

static int asel_from_json(json_t *a, ct_plan_asel *s)
{
    json_error_t je;
    const char *lang;
    int kind;
    if (json_unpack_ex(a, &je, JSON_STRICT, "[i, i, s]", &kind, &s->value, &lang) ||
        kind < CT_ASEL_DEFAULT || kind > CT_ASEL_LANG || copy_str(s->lang, sizeof s->lang, lang))
        return -1;
    s->kind = (ct_asel_kind)kind;
    return 0;
}

static int input_from_json(json_t *o, ct_plan_input *in)
{
    json_error_t je;
    const char *path;
    json_t *tcs, *clips, *c, *audio;
    int src;
    size_t i;
    if (json_unpack_ex(o, &je, JSON_STRICT, "{s:s, s:i, s:o, s:o, s:o, s?[i, i, i, i]}", "path", &path,
                       "tc_source", &src, "tc_start", &tcs, "clips", &clips, "audio", &audio, "prep",
                       &in->rotate, &in->deblock, &in->denoise, &in->filter_strength) ||
        in->rotate < CT_ROTATE_AUTO || in->rotate > CT_ROTATE_270 || in->filter_strength < -5 ||
        in->filter_strength > 5 ||
        json_array_size(audio) != CT_PLAN_MAX_AUDIO ||
        copy_str(in->path, sizeof in->path, path) || tc_from_json(tcs, &in->tc_start) ||
        !json_is_array(clips) || json_array_size(clips) > CT_PLAN_MAX_CLIPS)
        return -1;
    in->tc_source = (ct_tc_source)src;
    json_array_foreach(clips, i, c) {
        if (json_array_size(c) != 2 || tc_from_json(json_array_get(c, 0), &in->clips[i].start) ||
            tc_from_json(json_array_get(c, 1), &in->clips[i].end))
            return -1;
    }
    in->n_clips = (int)json_array_size(clips);
    json_array_foreach(audio, i, c) {
        if (asel_from_json(c, &in->audio[i]))
            return -1;
    }
    return 0;
}

ct_err ct_plan_from_json(const char *json, ct_plan *p, char *err, size_t errlen)
{
    json_error_t je;
    ct_err rc = CT_ERR_INVALID;
    memset(p, 0, sizeof *p);
    json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, errlen, "plan: %s", je.text);
        return CT_ERR_INVALID;
    }
    const char *input = NULL;
    json_t *outs = NULL, *ins = NULL;
    if (json_unpack_ex(root, &je, JSON_STRICT, "{s:s, s?o, s:i, s:o, s:i, s:i, s:F, s?i}", "input_path", &input,
                       "inputs", &ins, "n_audio", &p->n_audio, "outputs", &outs, "max_width",
                       &p->max_width, "max_height", &p->max_height, "max_duration_s", &p->max_duration_s,
                       "max_streams", &p->max_streams) ||
        p->max_streams < 0 || p->max_streams > 1000 ||
        p->n_audio < 0 || p->n_audio > CT_PLAN_MAX_AUDIO ||
        !json_is_array(outs) || json_array_size(outs) == 0 ||
        json_array_size(outs) > CT_PLAN_MAX_OUTPUTS || copy_str(p->input_path, sizeof p->input_path, input)) {
        snprintf(err, errlen, "plan: %s", je.text[0] ? je.text : "bad outputs or input_path");
        goto cleanup;
    }
    size_t i;
    json_t *o;
    if (ins && (!json_is_array(ins) || json_array_size(ins) > CT_PLAN_MAX_INPUTS)) {
        snprintf(err, errlen, "plan: bad inputs");
        goto cleanup;
    }
    json_array_foreach(ins, i, o) {
        if (input_from_json(o, &p->inputs[i])) {
            snprintf(err, errlen, "plan input %zu: bad fields", i);
            goto cleanup;
        }
    }
    p->n_inputs = ins ? (int)json_array_size(ins) : 0;
    json_array_foreach(outs, i, o) {
        ct_plan_output *po = &p->outputs[i];
        const char *path, *name, *master, *base_url, *alang, *aname;
        int container, vcodec, rc_mode, acodec;
        json_int_t vb, vmax, hrd, ab;
        ct_plan_video *v = &po->video;
        if (json_unpack_ex(o, &je, JSON_STRICT,
                           "{s:i, s:s, s:s, s:s, s:s, s:i, s:[i, i, i, i, i, i], s:[i, i, i, i],"
                           " s:{s:i, s:i, s:i, s:i, s:i, s:I, s:I, s:I, s:i, s:i, s:[i, i, i, i], s:i,"
                           " s:[i, i, i], s?[i, i, i, i]}, s:{s:i, s:I, s:i, s:i, s:i, s:i, s:s, s:s, s:i}}",
                           "container", &container, "path", &path, "name", &name, "master",
                           &master, "base_url", &base_url, "group", &po->group, "seg", &po->segment_length,
                           &po->fragment_length, &po->min_buffer_ms, &po->no_hls, &po->no_dash, &po->min_final_ms,
                           "fc", &v->fc_num, &v->fc_den, &v->fc_max, &v->fc_quality,
                           "video", "codec", &vcodec,
                           "width", &po->video.width, "height", &po->video.height, "rc_mode",
                           &rc_mode, "qvbr_level", &po->video.qvbr_level, "bitrate", &vb,
                           "max_bitrate", &vmax, "hrd_buffer", &hrd, "gop_frames",
                           &po->video.gop_frames, "scene_change_detect",
                           &po->video.scene_change_detect, "rate", &v->gop_ms, &v->fr_num,
                           &v->fr_den, &v->fr_algo, "stretch", &v->stretch, "deint", &v->deint_mode,
                           &v->deint_algo, &v->deint_force, "prof", &v->profile, &v->level, &v->bit_depth,
                           &v->high_tier, "audio", "codec", &acodec,
                           "bitrate", &ab, "channels", &po->audio.channels, "sample_rate",
                           &po->audio.sample_rate, "vbr_quality", &po->audio.vbr_quality, "source",
                           &po->audio.source, "lang", &alang, "stream_name", &aname,
                           "lang_follow", &po->audio.lang_follow) ||
            po->audio.source < 0 || po->audio.source >= CT_PLAN_MAX_AUDIO ||
            copy_str(po->path, sizeof po->path, path) ||
            copy_str(po->name, sizeof po->name, name) ||
            copy_str(po->master, sizeof po->master, master) ||
            copy_str(po->base_url, sizeof po->base_url, base_url) || !ct_plan_url_ok(po->base_url) ||
            copy_str(po->audio.lang, sizeof po->audio.lang, alang) || !ct_plan_url_ok(po->audio.lang) ||
            copy_str(po->audio.stream_name, sizeof po->audio.stream_name, aname) ||
            strpbrk(po->audio.stream_name, "\"\\\r\n")) {
            snprintf(err, errlen, "plan output %zu: %s", i, je.text);
            goto cleanup;
        }
        po->container = (ct_container)container;
        po->video.codec = (ct_vcodec)vcodec;
        po->video.rc_mode = (ct_rc_mode)rc_mode;
        po->video.bitrate = vb;
        po->video.max_bitrate = vmax;
        po->video.hrd_buffer = hrd;
        po->audio.codec = (ct_acodec)acodec;
        po->audio.bitrate = ab;
    }
    p->n_outputs = (int)json_array_size(outs);
    rc = CT_OK;
cleanup:
    json_decref(root);
    return rc;
}
