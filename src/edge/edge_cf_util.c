/* edge_cf_util.c: shared pieces of the CloudFront API files: errors, XML
 * replies, reading XML request fields, rendering stored JSON as XML. */
#include "edge/edge_cf.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cf_failf(cf_fail *f, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->msg, sizeof f->msg, fmt, ap);
    va_end(ap);
    f->status = status;
    f->code = code;
    return -1;
}

void cf_reply_error(const ct_http_req *req, ct_http_resp *resp, const cf_fail *f)
{
    ct_buf_reset(&resp->body);
    resp->status = f->status;
    ct_buf_puts(&resp->body, "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"" CF_NS "\">"
                             "<Error><Type>Sender</Type><Code>");
    ct_xml_escape(&resp->body, f->code);
    ct_buf_puts(&resp->body, "</Code><Message>");
    ct_xml_escape(&resp->body, f->msg);
    ct_buf_printf(&resp->body, "</Message></Error><RequestId>%s</RequestId></ErrorResponse>",
                  req->request_id);
    ct_http_resp_header(resp, "Content-Type", "text/xml");
}

void cf_reply_xml(ct_http_resp *resp, int status, ct_buf *b, const char *etag)
{
    resp->status = status;
    ct_buf_puts(&resp->body, "<?xml version=\"1.0\"?>\n");
    if (b->data)
        ct_buf_append(&resp->body, b->data, b->len);
    ct_http_resp_header(resp, "Content-Type", "text/xml");
    if (etag)
        ct_http_resp_header(resp, "ETag", etag);
}

const char *cf_text_of(const ct_xml_node *n) { return n && n->text.data ? n->text.data : ""; }

/* Every leaf empty, 0, false or none: a field left at its default. */
static int defaultish(const ct_xml_node *n)
{
    if (!n->first_child) {
        const char *t = cf_text_of(n);
        t += strspn(t, " \t\r\n");
        return !*t || !strcmp(t, "0") || !strcmp(t, "false") || !strcmp(t, "none");
    }
    for (const ct_xml_node *c = n->first_child; c; c = c->next)
        if (!defaultish(c))
            return 0;
    return 1;
}

static int in_list(const char *name, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(name, *list))
            return 1;
    return 0;
}

/* Children of n not in known/ignored must be at their defaults. */
int cf_check_unsupported(const ct_xml_node *n, const char *const *known,
                             const char *const *ignored, cf_fail *f)
{
    for (const ct_xml_node *c = n->first_child; c; c = c->next)
        if (!in_list(c->name, known) && !in_list(c->name, ignored) && !defaultish(c))
            return cf_failf(f, 400, "InvalidArgument", "%s.%s is not supported by CatTube",
                        n->name, c->name);
    return 0;
}

int cf_get_bool(const ct_xml_node *n, const char *name, int *out, cf_fail *f)
{
    const char *t = ct_xml_child_text(n, name);
    if (!t || (strcmp(t, "true") && strcmp(t, "false")))
        return cf_failf(f, 400, "MalformedInput", "%s.%s must be true or false", n->name, name);
    *out = !strcmp(t, "true");
    return 0;
}

int cf_get_ttl(const ct_xml_node *n, const char *name, json_int_t def, json_t *o,
                   const char *key, cf_fail *f)
{
    const char *t = ct_xml_child_text(n, name);
    char *end;
    long long v = t ? strtoll(t, &end, 10) : def;
    if (t && (!*t || *end || v < 0 || v > EDGE_MAX_TTL * 10ll))
        return cf_failf(f, 400, "InvalidArgument", "%s must be a number of seconds", name);
    json_object_set_new(o, key, json_integer(v));
    return 0;
}

/* Items/<item> texts into a JSON array (checks Quantity). */
int cf_get_items(const ct_xml_node *n, const char *item, size_t max, json_t **out,
                     cf_fail *f)
{
    json_t *arr = json_array();
    const ct_xml_node *items = ct_xml_child(n, "Items");
    size_t count = 0;
    for (const ct_xml_node *c = items ? items->first_child : NULL; c; c = c->next) {
        if (strcmp(c->name, item))
            continue;
        if (++count > max) {
            json_decref(arr);
            return cf_failf(f, 400, "InvalidArgument", "At most %zu %s items are supported", max,
                        n->name);
        }
        json_array_append_new(arr, json_string(cf_text_of(c)));
    }
    const char *q = ct_xml_child_text(n, "Quantity");
    if (!q || strtoul(q, NULL, 10) != count) {
        json_decref(arr);
        return cf_failf(f, 400, "InvalidArgument", "%s.Quantity does not match its items", n->name);
    }
    *out = arr;
    return 0;
}

int cf_parse_body(const ct_http_req *req, ct_xml_node **root, cf_fail *f)
{
    if (req->body_len > CF_BODY_MAX)
        return cf_failf(f, 400, "MalformedInput", "The request body is too large");
    char msg[300];
    if (ct_xml_parse(req->body ? req->body : "", req->body_len, root, msg, sizeof msg))
        return cf_failf(f, 400, "MalformedXML", "%s", msg);
    return 0;
}

/* ---- stored JSON -> XML ---- */

const char *cf_js(const json_t *d, const char *k)
{
    const char *s = json_string_value(json_object_get(d, k));
    return s ? s : "";
}

void cf_x_text(ct_buf *b, const char *tag, const char *v)
{
    ct_buf_printf(b, "<%s>", tag);
    ct_xml_escape(b, v);
    ct_buf_printf(b, "</%s>", tag);
}

void cf_x_list(ct_buf *b, const char *tag, const char *item, json_t *arr)
{
    size_t i, n = json_array_size(arr);
    json_t *v;
    ct_buf_printf(b, "<%s><Quantity>%zu</Quantity>", tag, n);
    if (n) {
        ct_buf_puts(b, "<Items>");
        json_array_foreach(arr, i, v) cf_x_text(b, item, json_string_value(v));
        ct_buf_puts(b, "</Items>");
    }
    ct_buf_printf(b, "</%s>", tag);
}

void cf_reply_page(ct_http_resp *resp, const char *root, json_t *all, const char *marker,
                   long max, cf_summary_fn summary)
{
    size_t i, n = 0, start = 0;
    json_t *rec;
    json_array_foreach(all, i, rec) if (marker && *marker && !strcmp(cf_js(rec, "id"), marker))
        start = i + 1;
    ct_buf items = CT_BUF_INIT, b = CT_BUF_INIT;
    const char *next = NULL;
    for (i = start; i < json_array_size(all); i++) {
        if (n == (size_t)max) {
            next = cf_js(json_array_get(all, i - 1), "id");
            break;
        }
        summary(&items, json_array_get(all, i));
        n++;
    }
    ct_buf_printf(&b, "<%s xmlns=\"" CF_NS "\">", root);
    cf_x_text(&b, "Marker", marker ? marker : "");
    if (next)
        cf_x_text(&b, "NextMarker", next);
    ct_buf_printf(&b, "<MaxItems>%ld</MaxItems><IsTruncated>%s</IsTruncated>"
                      "<Quantity>%zu</Quantity>",
                  max, next ? "true" : "false", n);
    if (n) {
        ct_buf_puts(&b, "<Items>");
        ct_buf_append(&b, items.data, items.len);
        ct_buf_puts(&b, "</Items>");
    }
    ct_buf_printf(&b, "</%s>", root);
    cf_reply_xml(resp, 200, &b, NULL);
    ct_buf_free(&b);
    ct_buf_free(&items);
}

int cf_load(ct_edge *e, const char *id, json_t **d, cf_fail *f)
{
    void *v = NULL;
    ct_err err = edge_dist_load(e, id, &v);
    if (err == CT_ERR_NOT_FOUND)
        return cf_failf(f, 404, "NoSuchDistribution", "The specified distribution does not exist.");
    if (err)
        return cf_failf(f, 500, "InternalError", "Cannot read the distribution: %s",
                    ct_err_str(err));
    *d = v;
    edge_dist_wire(e, *d);
    return 0;
}

int cf_if_match(const ct_http_req *req, const json_t *d, cf_fail *f)
{
    const char *im = ct_http_header(req, "If-Match");
    if (!im || !*im)
        return cf_failf(f, 400, "InvalidIfMatchVersion",
                    "The If-Match version is missing or not valid for the resource.");
    if (strcmp(im, cf_js(d, "etag")))
        return cf_failf(f, 412, "PreconditionFailed",
                    "The precondition given in one or more of the request header fields "
                    "evaluated to false.");
    return 0;
}
