/* Shared by mc's own files only.
 *
 * DESIGN: three layers, each a pure function of JSON in, JSON (or a plan) out:
 *  1. mc_model.c checks a request body against the botocore model embedded in
 *     mc_model_data.c: types, enums, ranges, unknown fields (misspellings), and
 *     normalises PascalCase keys to the wire's lowerCamelCase (map keys such as
 *     audio selector names are user data and are kept). A short table marks
 *     model fields CatTube rejects (they would change the picture) or accepts
 *     with a warning.
 *  2. mc_plan.c checks the supported subset (one S3 input, FILE_GROUP MP4
 *     outputs, H.264/H.265/AV1 video, AAC audio) and builds the ct_plan.
 *  3. mc_api.c / mc_jobs.c resolve names (queues, templates, presets), merge
 *     templates, store records through meta and render wire responses.
 * Errors carry the JSON path in wire camelCase: "settings.inputs[0].fileInput:
 * required". */
#ifndef CT_MC_INTERNAL_H
#define CT_MC_INTERNAL_H

#include "mc/mc.h"

#include <jansson.h>

#define MC_API_PREFIX "/2017-08-29"
#define MC_DEFAULT_QUEUE "Default"
#define MC_QUEUE_MAX_SLOTS 1000 /* concurrentJobs / reservedSlots at most */

extern const char mc_model_json[];

struct ct_mc {
    ct_meta *meta;
    char region[32];
    char account[13];
    char endpoint[512];
    ct_mc_probe_fn probe;
    void *probe_ctx;
    ct_mc_authorize_fn authorize;
    void *authorize_ctx;
};

/* Diagnostics while checking a request: the current JSON path, the first
 * error, and warnings (messages.warning on the job). */
typedef struct {
    char path[768];
    size_t plen;
    char msg[1600];
    int failed;
    json_t *warnings;   /* array of strings or NULL (then warnings are dropped) */
} mc_diag;

void mc_diag_init(mc_diag *d, const char *base_path, json_t *warnings);
/* Push a member / index / map key; returns the length to restore with mc_path_pop. */
size_t mc_path_key(mc_diag *d, const char *key);
size_t mc_path_index(mc_diag *d, size_t i);
size_t mc_path_mapkey(mc_diag *d, const char *key);
void mc_path_pop(mc_diag *d, size_t len);
/* Records "path: text" as the error (first one wins); returns -1. */
int mc_fail(mc_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same with the path extended by one member. */
/* Creates MediaConvert_Default_Role with full store access on the first
 * start (mc_jobs.c); never again, so an operator's edits stay. */
ct_err mc_ensure_default_role(ct_mc *mc);
int mc_fail_at(mc_diag *d, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void mc_warn(mc_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- model (mc_model.c) ---- */
/* Checks `in` against model shape `shape` and returns a normalised deep copy
 * (new reference), or NULL with d->msg set. */
json_t *mc_model_check(const char *shape, json_t *in, mc_diag *d);
/* ---- strictness (mc_strict.c) ---- */
/* Member `member` (wire name) of model shape `shape` with value val: 0 when
 * CatTube honours it or it cannot change the output (maybe with a warning),
 * -1 with d set ("unsupported field" / "unsupported value") otherwise. d's
 * path is at the member. */
int mc_strict_member(const char *shape, const char *member, const json_t *val, mc_diag *d);
/* Enum values of a model string shape (NULL when not an enum). */
const json_t *mc_model_enum(const char *shape);

/* ---- plan (mc_plan.c) ---- */
/* Checks normalised JobSettings against the supported subset and fills the
 * plan (paths left empty), the input location and the destinations. plan,
 * in_bucket, in_key and dests may be NULL to only validate. Returns 0 or -1. */
int mc_settings_plan(const json_t *settings, ct_plan *plan, char in_bucket[64],
                     char in_key[1025], ct_mc_dest *dests, mc_diag *d);
/* An enum-valued key: absent or one of allowed ("A|B"); else -1 naming it. */
int mc_enum_only(const json_t *o, const char *k, const char *allowed, mc_diag *d);
/* Checks one output description (PresetSettings or Output) on its own. */
int mc_output_check(const json_t *output, mc_diag *d);
/* "s3://bucket/key" -> bucket and key (key may be empty when allow_empty_key). */
int mc_parse_s3(const char *url, char bucket[64], char *key, size_t keylen, int allow_empty_key);

/* ---- codecs (mc_codecs.c) ---- */
const char *mc_jstr(const json_t *o, const char *k);           /* NULL unless a string */
/* 1 when o[k] is an integer (stored in *out), 0 when absent, -1 (d set) when not. */
int mc_jint(const json_t *o, const char *k, json_int_t *out, mc_diag *d);
const json_t *mc_jobj(const json_t *o, const char *k);         /* NULL unless an object */
/* videoDescription / audioDescriptions of one output (d's path at that key). */
int mc_video_plan(const json_t *vd, ct_plan_video *v, mc_diag *d);
int mc_audio_plan(const json_t *ads, const json_t *selectors, ct_plan_audio *a, mc_diag *d);

/* ---- inputs (mc_inputs.c) ---- */
/* Settings.Inputs -> plan->inputs (clippings, timecode source; paths left
 * empty), input 0's location and its audioSelectors (borrowed). */
int mc_inputs_plan(const json_t *settings, ct_plan *plan, char in_bucket[64], char in_key[1025],
                   const json_t **selectors, mc_diag *d);
/* After the outputs: names[s] is the AudioSourceName of audio slot s; sets
 * every input's selection per slot and plan->n_audio = n. */
void mc_inputs_audio(const json_t *settings, ct_plan *plan, const char *const *names, int n);

/* ---- settings helpers (mc_settings.c) ---- */
/* Deep merge: objects merge by key, arrays merge index-wise, scalars from
 * `over` win. Returns a new reference. */
json_t *mc_merge(const json_t *base, const json_t *over);
/* Last path segment of a name-or-ARN ("arn:...:queues/Default" -> "Default"). */
const char *mc_ref_name(const char *ref);
int mc_name_ok(const char *name);
/* Resolves a queue reference (name or ARN) that must exist; *arn is heap.
 * CT_ERR_NOT_FOUND with "queue: ..." in d. */
ct_err mc_resolve_queue(ct_mc *mc, const char *ref, char **arn, mc_diag *d);
/* Replaces every outputs[].preset reference with the preset's settings merged
 * under the output's own fields. Returns CT_ERR_NOT_FOUND/INVALID with d->msg. */
ct_err mc_resolve_presets(ct_mc *mc, json_t *settings, mc_diag *d);
/* Validates JobTemplateSettings: presets resolved, then the plan checks with a
 * stand-in input. */
ct_err mc_template_settings_check(ct_mc *mc, const json_t *settings, mc_diag *d);
char *mc_arn(const ct_mc *mc, const char *kind, const char *name); /* heap */
json_t *mc_json_load(const char *body, size_t len, mc_diag *d);

/* ---- jobs (mc_jobs.c) ---- */
/* Creates a job from a CreateJob body (parsed). idem_key may be NULL (then
 * clientRequestToken is used). On success or CT_ERR_EXISTS (idempotent repeat)
 * *job_out is the job's wire JSON (new reference) and id_out its id. */
ct_err mc_job_create(ct_mc *mc, json_t *body, const char *idem_key, json_t **job_out,
                     char id_out[40], mc_diag *d);
json_t *mc_job_render(const ct_meta_job *j);

/* ---- handlers: id is the decoded {id}/{name} path segment or NULL ---- */
typedef void (*mc_handler)(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp);
void mc_h_job_create(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp);
void mc_h_job_get(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp);
void mc_h_job_cancel(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp);
void mc_h_job_list(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp);
/* SearchJobs: GET /search (not in Debian's botocore model; newer SDKs have it). */
void mc_h_job_search(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp);
/* mc_probe.c: Probe (POST /probe; newer SDKs only, like SearchJobs). */
void mc_h_probe(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp);
/* mc_named.c: job templates and presets */
void mc_h_template_create(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp);
void mc_h_template_update(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp);
void mc_h_template_get(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp);
void mc_h_template_delete(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp);
void mc_h_template_list(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp);
void mc_h_preset_create(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp);
void mc_h_preset_update(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp);
void mc_h_preset_get(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp);
void mc_h_preset_delete(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp);
void mc_h_preset_list(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp);
/* Sorts (listBy NAME|CREATION_DATE, order), pages (maxResults, nextToken) and
 * replies {key: [...], "nextToken"?}. items is stolen. */
void mc_list_reply(const ct_http_req *req, json_t *items, const char *key, ct_http_resp *resp);

/* ---- errors (mc_errors.c) ---- */
int mc_err_status(ct_err e);
const char *mc_err_type(int status);
/* Sets resp to {"message": msg} with the status for e and x-amzn-ErrorType. */
void mc_error(ct_http_resp *resp, ct_err e, const char *msg);
void mc_reply(ct_http_resp *resp, int status, json_t *body /* stolen */);

#endif
