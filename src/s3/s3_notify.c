/* s3_notify.c: Put/GetBucketNotificationConfiguration.
 *
 * DESIGN: the XML configuration is validated and stored as CatTube's own
 * JSON: {"configs":[{"kind":"lambda"|"queue"|"topic","id":..,"arn":..,
 * "events":[..],"prefix":..,"suffix":..}]}. The events module matches
 * outbox rows against it. On the wire S3 calls the Lambda configuration
 * CloudFunctionConfiguration with CloudFunction and Event elements (the
 * botocore model's locationNames).
 *
 * Targets are validated as AWS validates destinations: a webhook declared
 * through the admin API is named by its own ARN
 * (arn:cattube:webhooks:REGION:ACCOUNT:webhook/NAME, any kind), or by
 * arn:aws:sqs:REGION:ACCOUNT:NAME in a Queue and arn:aws:sns:...:NAME in a
 * Topic configuration; such an ARN is stored resolved to the webhook ARN
 * the events module delivers to ("arn"), with the ARN as configured kept
 * for Get ("configuredArn"). Lambda configurations also take MediaConvert
 * job template ARNs (checked when the event is delivered). Anything else
 * is InvalidArgument "Unable to validate the following destination
 * configurations". */
#include "s3/s3_internal.h"

#include <jansson.h>
#include <string.h>

#define XML_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define S3_NS "http://s3.amazonaws.com/doc/2006-03-01/"

static const struct {
    const char *element;  /* configuration element */
    const char *target;   /* element holding the ARN */
    const char *kind;
} config_kinds[] = {
    {"CloudFunctionConfiguration", "CloudFunction", "lambda"},
    {"LambdaFunctionConfiguration", "LambdaFunctionArn", "lambda"},
    {"QueueConfiguration", "Queue", "queue"},
    {"TopicConfiguration", "Topic", "topic"},
};

static const char *const valid_events[] = {
    "s3:ObjectCreated:*", "s3:ObjectCreated:Put", "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy", "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*", "s3:ObjectRemoved:Delete", "s3:ObjectRemoved:DeleteMarkerCreated",
};

static int event_valid(const char *e)
{
    for (size_t i = 0; i < CT_ARRAY_LEN(valid_events); i++)
        if (strcmp(valid_events[i], e) == 0)
            return 1;
    return 0;
}

/* Filter/S3Key/FilterRule{Name,Value} -> prefix/suffix. */
static const char *parse_filter(const ct_xml_node *cfg, json_t *out)
{
    ct_xml_node *key = ct_xml_child(ct_xml_child(cfg, "Filter"), "S3Key");
    for (ct_xml_node *r = key ? key->first_child : NULL; r; r = r->next) {
        if (strcmp(r->name, "FilterRule") != 0)
            continue;
        const char *name = ct_xml_child_text(r, "Name");
        const char *value = ct_xml_child_text(r, "Value");
        if (!name || !value)
            return "FilterRule needs Name and Value";
        const char *field = strcasecmp(name, "prefix") == 0   ? "prefix"
                            : strcasecmp(name, "suffix") == 0 ? "suffix"
                                                              : NULL;
        if (!field)
            return "FilterRule Name must be prefix or suffix";
        if (json_object_get(out, field))
            return "Cannot specify more than one prefix or suffix rule in a filter";
        json_object_set_new(out, field, json_string(value));
    }
    return NULL;
}

#define WEBHOOK_ARN_PREFIX "arn:cattube:webhooks:" /* CT_EVENTS_WEBHOOK_ARN_PREFIX */
#define UNVALIDATED "Unable to validate the following destination configurations"

static int webhook_exists(ct_s3 *s, const char *name)
{
    ct_meta_webhook w;
    if (!name[0] || strlen(name) > 64 || ct_meta_webhook_get(s->meta, name, &w) != CT_OK)
        return 0;
    ct_meta_webhook_free(&w);
    return 1;
}

/* The webhook ARN events delivers to for a configured ARN of this kind, in
 * out; -1 when it names no declared target. */
static int resolve_target(ct_s3 *s, const char *kind, const char *arn, char *out, size_t n)
{
    char prefix[128];
    const char *svc = strcmp(kind, "queue") == 0 ? "sqs" : strcmp(kind, "topic") == 0 ? "sns" : NULL;
    snprintf(prefix, sizeof prefix, WEBHOOK_ARN_PREFIX "%s:%s:webhook/", s->region, s->account_id);
    if (strncmp(arn, prefix, strlen(prefix)) == 0) {
        snprintf(out, n, "%s", arn);
        return webhook_exists(s, arn + strlen(prefix)) ? 0 : -1;
    }
    if (svc) {
        snprintf(prefix, sizeof prefix, "arn:aws:%s:%s:%s:", svc, s->region, s->account_id);
        if (strncmp(arn, prefix, strlen(prefix)) != 0 || !webhook_exists(s, arn + strlen(prefix)))
            return -1;
        snprintf(out, n, WEBHOOK_ARN_PREFIX "%s:%s:webhook/%s", s->region, s->account_id,
                 arn + strlen(prefix));
        return 0;
    }
    snprintf(out, n, "%s", arn);
    return strncmp(arn, "arn:aws:mediaconvert:", 21) == 0 && strstr(arn, ":jobTemplates/") ? 0
                                                                                          : -1;
}

static const char *parse_config(ct_s3 *s, const ct_xml_node *n, const char *target,
                                const char *kind, json_t *configs)
{
    const char *arn = ct_xml_child_text(n, target);
    char resolved[512];
    if (!arn || !arn[0])
        return "missing target ARN";
    if (strlen(arn) > 300 || resolve_target(s, kind, arn, resolved, sizeof resolved))
        return UNVALIDATED;
    json_t *c = json_pack("{s:s, s:s, s:s}", "kind", kind, "arn", resolved, "id", "");
    if (strcmp(resolved, arn) != 0)
        json_object_set_new(c, "configuredArn", json_string(arn));
    const char *id = ct_xml_child_text(n, "Id");
    char gen[40];
    if (!id || !id[0]) {
        ct_random_hex(gen, 32);
        id = gen;
    }
    json_object_set_new(c, "id", json_string(id));
    json_t *events = json_array();
    json_object_set_new(c, "events", events);
    const char *err = NULL;
    for (ct_xml_node *e = n->first_child; e && !err; e = e->next) {
        if (strcmp(e->name, "Event") != 0)
            continue;
        const char *ev = e->text.data ? e->text.data : "";
        if (!event_valid(ev))
            err = "The event is not supported for notifications";
        else
            json_array_append_new(events, json_string(ev));
    }
    if (!err && json_array_size(events) == 0)
        err = "At least one event must be specified";
    if (!err)
        err = parse_filter(n, c);
    if (err)
        json_decref(c);
    else
        json_array_append_new(configs, c);
    return err;
}

/* Two configurations overlap when they share an event type family and
 * their prefixes and suffixes could both match one key (AWS rejects it). */
static int overlaps(json_t *a, json_t *b)
{
    const char *pa = json_string_value(json_object_get(a, "prefix"));
    const char *pb = json_string_value(json_object_get(b, "prefix"));
    const char *sa = json_string_value(json_object_get(a, "suffix"));
    const char *sb = json_string_value(json_object_get(b, "suffix"));
    pa = pa ? pa : "";
    pb = pb ? pb : "";
    sa = sa ? sa : "";
    sb = sb ? sb : "";
    int prefix_overlap = strncmp(pa, pb, strlen(pa) < strlen(pb) ? strlen(pa) : strlen(pb)) == 0;
    size_t la = strlen(sa), lb = strlen(sb), m = la < lb ? la : lb;
    int suffix_overlap = strcmp(sa + la - m, sb + lb - m) == 0;
    if (!prefix_overlap || !suffix_overlap)
        return 0;
    size_t i, j;
    json_t *ea, *eb;
    json_array_foreach(json_object_get(a, "events"), i, ea) {
        json_array_foreach(json_object_get(b, "events"), j, eb) {
            const char *x = json_string_value(ea), *y = json_string_value(eb);
            /* same family: "s3:ObjectCreated" */
            const char *cx = strrchr(x, ':'), *cy = strrchr(y, ':');
            if ((size_t)(cx - x) == (size_t)(cy - y) && strncmp(x, y, (size_t)(cx - x)) == 0 &&
                (strcmp(cx, ":*") == 0 || strcmp(cy, ":*") == 0 || strcmp(cx, cy) == 0))
                return 1;
        }
    }
    return 0;
}

void s3_notification_put(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const char *bucket)
{
    char msg[256];
    ct_xml_node *root = NULL;
    json_t *configs = json_array();
    if (ct_xml_parse(req->body, req->body_len, &root, msg, sizeof msg) ||
        strcmp(root->name, "NotificationConfiguration") != 0) {
        ct_s3_error(resp, req, "MalformedXML", "The XML you provided was not well-formed or did "
                                               "not validate against our published schema");
        goto cleanup;
    }
    for (ct_xml_node *n = root->first_child; n; n = n->next) {
        for (size_t k = 0; k < CT_ARRAY_LEN(config_kinds); k++) {
            if (strcmp(n->name, config_kinds[k].element) != 0)
                continue;
            const char *err = parse_config(s, n, config_kinds[k].target,
                                           config_kinds[k].kind, configs);
            if (err) {
                ct_s3_error(resp, req, "InvalidArgument", err);
                goto cleanup;
            }
        }
    }
    for (size_t i = 0; i < json_array_size(configs); i++)
        for (size_t j = i + 1; j < json_array_size(configs); j++)
            if (overlaps(json_array_get(configs, i), json_array_get(configs, j))) {
                ct_s3_error(resp, req, "InvalidArgument", "Configurations overlap. "
                            "Configurations on the same bucket cannot share a common event type.");
                goto cleanup;
            }
    json_t *doc = json_pack("{s:O}", "configs", configs);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    ct_err e = ct_meta_bucket_set_notification(s->meta, bucket,
                                               json_array_size(configs) ? text : NULL);
    free(text);
    if (e == CT_ERR_NOT_FOUND)
        ct_s3_error(resp, req, "NoSuchBucket", "The specified bucket does not exist");
    else if (e)
        s3_internal_error(resp, req, e);
    else
        resp->status = 200;
cleanup:
    json_decref(configs);
    ct_xml_free(root);
}

static void emit_config(ct_buf *x, json_t *c)
{
    const char *kind = json_string_value(json_object_get(c, "kind"));
    const char *el = "CloudFunctionConfiguration", *target = "CloudFunction";
    if (strcmp(kind, "queue") == 0) {
        el = "QueueConfiguration";
        target = "Queue";
    } else if (strcmp(kind, "topic") == 0) {
        el = "TopicConfiguration";
        target = "Topic";
    }
    ct_buf_printf(x, "<%s><Id>", el);
    ct_xml_escape(x, json_string_value(json_object_get(c, "id")));
    ct_buf_printf(x, "</Id><%s>", target);
    const char *arn = json_string_value(json_object_get(c, "configuredArn"));
    ct_xml_escape(x, arn ? arn : json_string_value(json_object_get(c, "arn")));
    ct_buf_printf(x, "</%s>", target);
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(c, "events"), i, ev) {
        ct_buf_puts(x, "<Event>");
        ct_xml_escape(x, json_string_value(ev));
        ct_buf_puts(x, "</Event>");
    }
    const char *rules[] = {"prefix", "suffix"};
    int any = json_object_get(c, "prefix") || json_object_get(c, "suffix");
    if (any) {
        ct_buf_puts(x, "<Filter><S3Key>");
        for (int r = 0; r < 2; r++) {
            const char *v = json_string_value(json_object_get(c, rules[r]));
            if (!v)
                continue;
            ct_buf_printf(x, "<FilterRule><Name>%s</Name><Value>", rules[r]);
            ct_xml_escape(x, v);
            ct_buf_puts(x, "</Value></FilterRule>");
        }
        ct_buf_puts(x, "</S3Key></Filter>");
    }
    ct_buf_printf(x, "</%s>", el);
}

void s3_notification_get(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const char *bucket)
{
    ct_meta_bucket b;
    ct_err e = ct_meta_bucket_get(s->meta, bucket, &b);
    if (e) {
        if (e == CT_ERR_NOT_FOUND)
            ct_s3_error(resp, req, "NoSuchBucket", "The specified bucket does not exist");
        else
            s3_internal_error(resp, req, e);
        return;
    }
    ct_buf *x = &resp->body;
    ct_buf_puts(x, XML_HEAD "<NotificationConfiguration xmlns=\"" S3_NS "\">");
    json_t *doc = b.notification_json ? json_loads(b.notification_json, 0, NULL) : NULL;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(doc, "configs"), i, c)
        emit_config(x, c);
    json_decref(doc);
    ct_buf_puts(x, "</NotificationConfiguration>");
    ct_meta_bucket_free(&b);
    resp->status = 200;
    ct_http_resp_header(resp, "Content-Type", "application/xml");
}
