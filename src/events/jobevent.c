/* jobevent.c: "MediaConvert Job State Change" events in EventBridge's shape,
 * and the per-webhook job-event filter. */
#include "events/events.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void uuid4(char out[37])
{
    char h[33];
    ct_random_hex(h, 32);
    h[12] = '4';
    h[16] = "89ab"[(unsigned char)h[16] % 4];
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

static const char *const phases[] = {"PROBING", "TRANSCODING", "UPLOADING"};

/* {"phaseProgress":{...}, "jobPercentComplete":n, "currentPhase":p, "retryCount":r} */
static json_t *job_progress(const ct_meta_job_event *e, const ct_meta_job *j)
{
    const char *cur = e->phase[0] ? e->phase : "PROBING";
    int ci = 0;
    for (int i = 0; i < 3; i++)
        if (strcmp(cur, phases[i]) == 0)
            ci = i;
    json_t *pp = json_object();
    for (int i = 0; i < 3; i++) {
        const char *st = i < ci ? "COMPLETE" : i == ci ? "PROGRESSING" : "PENDING";
        int pct = i < ci ? 100 : i == ci ? e->percent : 0;
        json_object_set_new(pp, phases[i], json_pack("{s:s, s:i}", "status", st,
                                                     "percentComplete", pct));
    }
    return json_pack("{s:o, s:i, s:s, s:i}", "phaseProgress", pp, "jobPercentComplete",
                     e->percent, "currentPhase", cur, "retryCount", j->retry_count);
}

/* Adds status-specific members to detail. */
static void detail_extras(json_t *detail, const ct_meta_job_event *e, const ct_meta_job *j)
{
    if (strcmp(e->status, "STATUS_UPDATE") == 0) {
        json_object_set_new(detail, "jobProgress", job_progress(e, j));
    } else if (strcmp(e->status, "COMPLETE") == 0) {
        json_t *ogd = j->output_details_json ? json_loads(j->output_details_json, 0, NULL)
                                             : NULL;
        json_object_set_new(detail, "outputGroupDetails", ogd ? ogd : json_array());
        json_t *warn = j->warnings_json ? json_loads(j->warnings_json, 0, NULL) : NULL;
        if (json_is_array(warn) && json_array_size(warn))
            json_object_set_new(detail, "warnings", warn);
        else
            json_decref(warn);
    } else if (strcmp(e->status, "ERROR") == 0) {
        json_object_set_new(detail, "errorCode", json_integer(j->error_code));
        json_object_set_new(detail, "errorMessage",
                            json_string(j->error_message ? j->error_message : ""));
    }
}

char *ct_events_job_message(const ct_meta_job_event *e, const ct_meta_job *j, const char *region,
                            const char *account_id)
{
    char id[37], job_arn[256], queue_arn[300], tbuf[32];
    uuid4(id);
    snprintf(job_arn, sizeof job_arn, "arn:aws:mediaconvert:%s:%s:jobs/%s", region, account_id,
             j->id);
    snprintf(queue_arn, sizeof queue_arn, "arn:aws:mediaconvert:%s:%s:queues/%s", region,
             account_id, j->queue);
    time_t t = (time_t)(e->time_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(tbuf, sizeof tbuf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *spec = j->spec_json ? json_loads(j->spec_json, 0, NULL) : NULL;
    json_t *um = json_object_get(spec, "userMetadata");
    um = json_is_object(um) ? json_incref(um) : json_object();
    json_t *detail = json_pack("{s:I, s:s, s:s, s:s, s:s, s:o}", "timestamp",
                               (json_int_t)e->time_ms, "accountId", account_id, "queue",
                               queue_arn, "jobId", j->id, "status", e->status, "userMetadata",
                               um);
    json_decref(spec);
    if (!detail)
        return NULL;
    detail_extras(detail, e, j);
    json_t *msg = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:o}", "version", "0",
                            "id", id, "detail-type", "MediaConvert Job State Change", "source",
                            "aws.mediaconvert", "account", account_id, "time", tbuf, "region",
                            region, "resources", job_arn, "detail", detail);
    char *s = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    return s;
}

static int list_has(json_t *list, const char *a, const char *b)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        const char *s = json_string_value(v);
        if (s && ((a && strcmp(s, a) == 0) || (b && strcmp(s, b) == 0)))
            return 1;
    }
    return 0;
}

int ct_events_job_filter_matches(const char *filter_json, const char *queue_name,
                                 const char *queue_arn, const char *status)
{
    if (!filter_json)
        return 0;
    json_t *f = json_loads(filter_json, 0, NULL);
    if (!json_is_object(f)) {
        json_decref(f);
        return 0;
    }
    json_t *queues = json_object_get(f, "queues");
    json_t *statuses = json_object_get(f, "statuses");
    int ok = (!json_is_array(queues) || list_has(queues, queue_name, queue_arn)) &&
             (!json_is_array(statuses) || list_has(statuses, status, NULL));
    json_decref(f);
    return ok;
}
