/* mc: the MediaConvert API (REST/JSON under /2017-08-29/) and its job model.
 *
 * DESIGN: requests arrive in lowerCamelCase (the wire form); files given to
 * the CLI with PascalCase keys are accepted too and normalised to camelCase
 * before validation. Settings are validated against the supported subset;
 * anything else answers 400 naming the JSON path, e.g.
 * "settings.outputGroups[0].outputs[1].videoDescription.codecSettings.codec:
 * unsupported value \"MPEG2\" (supported: H_264, H_265, AV1)".
 * Records are stored through meta as wire JSON. Errors on the wire are
 * {"message": "..."} with 400/403/404/409/429 (one table in mc_errors.c).
 * Ownership: ct_mc is owned by main and borrows meta. */
#ifndef CT_MC_H
#define CT_MC_H

#include "core/plan.h"
#include "http/http.h"
#include "meta/meta.h"

typedef struct ct_mc ct_mc;

/* Probe's view of one input file, filled by the server's probe function. */
typedef struct {
    char *container_json;        /* heap: the wire's Container JSON (sandboxed probe) */
    char etag[80];
    uint64_t size;
    int64_t last_modified_ms;
    char content_type[256];
    char msg[512];               /* on error: what was wrong, naming the file */
} ct_mc_probe_out;
/* Reads s3://bucket/key for the caller of req and probes it. CT_ERR_NOT_FOUND
 * (no such bucket/key), CT_ERR_DENIED, CT_ERR_INVALID (not readable media),
 * others; out->msg says which. mc never touches media itself: it has no
 * store and no sandbox, so the server wires this in (cli/serve_probe.c). */
typedef ct_err (*ct_mc_probe_fn)(void *ctx, const ct_http_req *req, const char *bucket,
                                 const char *key, ct_mc_probe_out *out);

/* Whether the caller of req may perform action on resource (IAM policy
 * evaluation, iam.h): CT_OK or CT_ERR_DENIED. mc uses it for the permission
 * a job's creator needs on the job's role (iam:PassRole); the server wires
 * it to ct_iam_authorize. */
typedef ct_err (*ct_mc_authorize_fn)(void *ctx, const ct_http_req *req, const char *action,
                                     const char *resource);

typedef struct {
    const char *region;          /* "us-east-1" */
    const char *account_id;      /* 12 digits */
    const char *endpoint_url;    /* what DescribeEndpoints returns */
    ct_mc_probe_fn probe;        /* NULL: Probe answers 400 */
    void *probe_ctx;
    ct_mc_authorize_fn authorize; /* NULL: no iam:PassRole check (worker, tests) */
    void *authorize_ctx;
} ct_mc_config;

/* Creates the Default queue if missing. */
ct_err ct_mc_open(const ct_mc_config *cfg, ct_meta *meta, ct_mc **out);
void ct_mc_close(ct_mc *mc);

/* The IAM action a MediaConvert request needs ("mediaconvert:GetJob") and
 * the resource it is checked against: the ARN of the job, queue, job
 * template or preset the path names, "*" for collection-wide operations.
 * Returns 0 (action "mediaconvert:*", resource "*") when the method and
 * path are no MediaConvert operation, so only a policy allowing every
 * MediaConvert action lets the request through to its 404. */
int ct_mc_request_action(const ct_mc *mc, const char *method, const char *path, char action[64],
                         char resource[512]);

/* Handles any request whose path starts with /2017-08-29/. */
void ct_mc_handle(ct_mc *mc, const ct_http_req *req, ct_http_resp *resp);

/* The built-in "Lambda": creates a job from a job template (name or ARN) for
 * an input s3://bucket/key, in the template's queue, with the account's
 * MediaConvert_Default_Role. idem_key makes it exactly-once per event
 * (CT_ERR_EXISTS + the existing id when repeated). */
ct_err ct_mc_job_from_template(ct_mc *mc, const char *template_ref, const char *file_input,
                               const char *idem_key, char job_id[40], char *msg, size_t msglen);

/* The account the jobs' roles belong to. */
const char *ct_mc_account_id(const ct_mc *mc);
/* The IAM role name of a stored job (its "role" ARN, iam_roles.c); 0 when
 * the job has no valid role ARN. */
int ct_mc_job_role(const char *spec_json, char name[72]);

/* Where one output of a job goes. */
typedef struct {
    char bucket[64];
    char key[1025];
    char group_name[128];        /* output group's name, for outputGroupDetails */
    int group_index;
    /* Multi-file outputs (HLS renditions, frame captures): key is the
     * prefix ("dir/" or "") every file name is appended to; stem is the
     * file name stem (basename + nameModifier); master the group's master
     * playlist name ("" when none). */
    int multi;
    char group_type[24];         /* "FILE_GROUP", "HLS_GROUP", "DASH_ISO_GROUP", "CMAF_GROUP" */
    char stem[256];
    char master[256];
    int no_hls, no_dash;         /* CMAF group without its HLS / DASH manifests */
} ct_mc_dest;

/* Builds the transcode plan of a stored job (spec_json from ct_meta_job):
 * plan outputs with codecs/sizes/rates; plan paths left empty for the worker
 * to fill; the input's bucket/key; each output's destination. Error code
 * 1040 cases return CT_ERR_INVALID with msg. */
ct_err ct_mc_job_plan(const char *spec_json, ct_plan *plan, char in_bucket[64],
                      char in_key[1025], ct_mc_dest dests[CT_PLAN_MAX_OUTPUTS], char *msg,
                      size_t msglen);

/* Location of Settings.Inputs[i] of a stored job (i counts from 0;
 * plan->n_inputs says how many there are). CT_ERR_NOT_FOUND past the last. */
ct_err ct_mc_job_input(const char *spec_json, int i, char bucket[64], char key[1025]);

/* outputGroupDetails JSON (wire form) for finished outputs, given per-output
 * results (durations in ms, sizes). Heap string. */
char *ct_mc_output_details(const char *spec_json, const ct_mc_dest *dests, int n,
                           const double *durations_s, const int *widths, const int *heights);

/* The engine's warnings ("a; b", "" for none) as the job's stored warnings:
 * [{"code":CT_MC_WARN_ENGINE,"count":1,"message":"a"},...], or NULL when
 * none. GetJob shows the codes in warnings[] and the messages in
 * messages.warning. Heap string. */
#define CT_MC_WARN_ENGINE 900001
char *ct_mc_warnings_json(const char *engine_warnings);

#endif
