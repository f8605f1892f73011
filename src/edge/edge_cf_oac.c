/* edge_cf_oac.c: CreateOriginAccessControl, GetOriginAccessControl[Config],
 * ListOriginAccessControls, UpdateOriginAccessControl and
 * DeleteOriginAccessControl under /2020-05-31/origin-access-control, with
 * ETag/If-Match like distributions. Shapes and enums follow botocore's
 * cloudfront model: Name (unique, at most 64), Description (at most 256),
 * SigningProtocol sigv4, SigningBehavior never|always|no-override,
 * OriginAccessControlOriginType s3 (the only origin type CatTube serves). An
 * OAC that a distribution names cannot be deleted (OriginAccessControlInUse). */
#include "edge/edge_cf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OAC_LIST_MAX 100

static int one_of(const char *v, const char *const *set)
{
    for (; v && *set; set++)
        if (!strcmp(v, *set))
            return 1;
    return 0;
}

/* OriginAccessControlConfig -> fields of the stored record. */
static int parse_oac(const ct_xml_node *cfg, json_t *o, cf_fail *f)
{
    static const char *const known[] = {"Name", "Description", "SigningProtocol",
                                        "SigningBehavior", "OriginAccessControlOriginType",
                                        NULL};
    static const char *const none[] = {NULL};
    static const char *const protos[] = {"sigv4", NULL};
    static const char *const behaviors[] = {"never", "always", "no-override", NULL};
    static const char *const types[] = {"s3", NULL};
    if (!cfg || strcmp(cfg->name, "OriginAccessControlConfig"))
        return cf_failf(f, 400, "MalformedInput", "The body must be an OriginAccessControlConfig");
    if (cf_check_unsupported(cfg, known, none, f))
        return -1;
    const char *name = ct_xml_child_text(cfg, "Name");
    const char *desc = ct_xml_child_text(cfg, "Description");
    const char *proto = ct_xml_child_text(cfg, "SigningProtocol");
    const char *beh = ct_xml_child_text(cfg, "SigningBehavior");
    const char *type = ct_xml_child_text(cfg, "OriginAccessControlOriginType");
    if (!name || !*name || strlen(name) > 64)
        return cf_failf(f, 400, "InvalidArgument",
                        "OriginAccessControlConfig.Name is required (at most 64 characters)");
    if (desc && strlen(desc) > 256)
        return cf_failf(f, 400, "InvalidArgument",
                        "OriginAccessControlConfig.Description is at most 256 characters");
    if (!one_of(proto, protos))
        return cf_failf(f, 400, "InvalidArgument",
                        "OriginAccessControlConfig.SigningProtocol must be sigv4");
    if (!one_of(beh, behaviors))
        return cf_failf(f, 400, "InvalidArgument",
                        "OriginAccessControlConfig.SigningBehavior must be one of never, always, "
                        "no-override");
    if (!one_of(type, types))
        return cf_failf(f, 400, "InvalidArgument",
                        "OriginAccessControlConfig.OriginAccessControlOriginType %s is not "
                        "supported by CatTube (s3 only)",
                        type ? type : "(missing)");
    json_object_set_new(o, "name", json_string(name));
    json_object_set_new(o, "description", json_string(desc ? desc : ""));
    json_object_set_new(o, "signingProtocol", json_string(proto));
    json_object_set_new(o, "signingBehavior", json_string(beh));
    json_object_set_new(o, "originType", json_string(type));
    return 0;
}

static void x_oac_config(ct_buf *b, const json_t *o, int root)
{
    ct_buf_printf(b, "<OriginAccessControlConfig%s>", root ? " xmlns=\"" CF_NS "\"" : "");
    cf_x_text(b, "Name", cf_js(o, "name"));
    cf_x_text(b, "Description", cf_js(o, "description"));
    cf_x_text(b, "SigningProtocol", cf_js(o, "signingProtocol"));
    cf_x_text(b, "SigningBehavior", cf_js(o, "signingBehavior"));
    cf_x_text(b, "OriginAccessControlOriginType", cf_js(o, "originType"));
    ct_buf_puts(b, "</OriginAccessControlConfig>");
}

static void reply_oac(ct_http_resp *resp, int status, const json_t *o, int config_only)
{
    ct_buf b = CT_BUF_INIT;
    if (config_only) {
        x_oac_config(&b, o, 1);
    } else {
        ct_buf_puts(&b, "<OriginAccessControl xmlns=\"" CF_NS "\">");
        cf_x_text(&b, "Id", cf_js(o, "id"));
        x_oac_config(&b, o, 0);
        ct_buf_puts(&b, "</OriginAccessControl>");
    }
    cf_reply_xml(resp, status, &b, cf_js(o, "etag"));
    ct_buf_free(&b);
}

static int load_oac(ct_edge *e, const char *id, json_t **o, cf_fail *f)
{
    void *v = NULL;
    ct_err err = edge_oac_load(e, id, &v);
    if (err == CT_ERR_NOT_FOUND)
        return cf_failf(f, 404, "NoSuchOriginAccessControl",
                        "The origin access control does not exist.");
    if (err)
        return cf_failf(f, 500, "InternalError", "Cannot read the origin access control: %s",
                        ct_err_str(err));
    *o = v;
    return 0;
}

/* Another OAC (not self) with this name: OriginAccessControlAlreadyExists. */
static int name_taken(ct_edge *e, const char *name, const char *self, cf_fail *f)
{
    void *v = NULL;
    if (edge_oac_list_all(e, &v))
        return cf_failf(f, 500, "InternalError", "Cannot list origin access controls");
    json_t *all = v, *o;
    size_t i;
    int rc = 0;
    json_array_foreach(all, i, o) if (!strcmp(cf_js(o, "name"), name) &&
                                      (!self || strcmp(cf_js(o, "id"), self))) rc =
        cf_failf(f, 409, "OriginAccessControlAlreadyExists",
                 "An origin access control with the same name already exists.");
    json_decref(all);
    return rc;
}

static int do_create(ct_edge *e, const ct_http_req *req, ct_http_resp *resp, cf_fail *f)
{
    ct_xml_node *root = NULL;
    json_t *o = json_object();
    int rc = -1;
    if (cf_parse_body(req, &root, f) || parse_oac(root, o, f) ||
        name_taken(e, cf_js(o, "name"), NULL, f))
        goto cleanup;
    ct_err err = edge_oac_create(e, o);
    if (err) {
        cf_failf(f, 500, "InternalError", "Cannot store the origin access control: %s",
                 ct_err_str(err));
        goto cleanup;
    }
    char loc[160];
    snprintf(loc, sizeof loc, "https://cloudfront.amazonaws.com/2020-05-31/origin-access-control/%s",
             cf_js(o, "id"));
    ct_http_resp_header(resp, "Location", loc);
    ct_info("edge: CloudFront API created origin access control %s (%s)", cf_js(o, "id"),
            cf_js(o, "name"));
    reply_oac(resp, 201, o, 0);
    rc = 0;
cleanup:
    json_decref(o);
    ct_xml_free(root);
    return rc;
}

static int store(ct_edge *e, json_t *o, cf_fail *f)
{
    char *text = json_dumps(o, JSON_COMPACT);
    ct_err err = text ? ct_meta_edge_item_put(e->meta, EDGE_OAC_KIND, cf_js(o, "id"), text, 0)
                      : CT_ERR_NOMEM;
    free(text);
    return err ? cf_failf(f, 500, "InternalError", "Cannot store: %s", ct_err_str(err)) : 0;
}

static int do_update(ct_edge *e, const char *id, const ct_http_req *req, ct_http_resp *resp,
                     cf_fail *f)
{
    ct_xml_node *root = NULL;
    json_t *o = NULL, *fields = json_object();
    int rc = -1;
    if (load_oac(e, id, &o, f) || cf_parse_body(req, &root, f) || cf_if_match(req, o, f) ||
        parse_oac(root, fields, f) || name_taken(e, cf_js(fields, "name"), id, f))
        goto cleanup;
    json_object_update(o, fields);
    edge_oac_new_etag(o);
    if (store(e, o, f))
        goto cleanup;
    reply_oac(resp, 200, o, 0);
    rc = 0;
cleanup:
    json_decref(o);
    json_decref(fields);
    ct_xml_free(root);
    return rc;
}

/* 1 when a distribution names the OAC. */
static int in_use(ct_edge *e, const char *id, cf_fail *f)
{
    void *v = NULL;
    if (edge_dist_list_all(e, &v))
        return cf_failf(f, 500, "InternalError", "Cannot list distributions");
    json_t *all = v, *d;
    size_t i;
    int used = 0;
    json_array_foreach(all, i, d) used |= !strcmp(cf_js(d, "originAccessControlId"), id);
    json_decref(all);
    return used ? cf_failf(f, 409, "OriginAccessControlInUse",
                           "Cannot delete the origin access control because it's in use by one "
                           "or more origins.")
                : 0;
}

static int do_delete(ct_edge *e, const char *id, const ct_http_req *req, ct_http_resp *resp,
                     cf_fail *f)
{
    json_t *o = NULL;
    int rc = -1;
    if (load_oac(e, id, &o, f) || cf_if_match(req, o, f) || in_use(e, id, f))
        goto cleanup;
    ct_err err = ct_meta_edge_item_delete(e->meta, EDGE_OAC_KIND, id);
    if (err) {
        cf_failf(f, 500, "InternalError", "Cannot delete: %s", ct_err_str(err));
        goto cleanup;
    }
    resp->status = 204;
    rc = 0;
cleanup:
    json_decref(o);
    return rc;
}

static void oac_summary(ct_buf *b, const json_t *o)
{
    ct_buf_puts(b, "<OriginAccessControlSummary>");
    cf_x_text(b, "Id", cf_js(o, "id"));
    cf_x_text(b, "Description", cf_js(o, "description"));
    cf_x_text(b, "Name", cf_js(o, "name"));
    cf_x_text(b, "SigningProtocol", cf_js(o, "signingProtocol"));
    cf_x_text(b, "SigningBehavior", cf_js(o, "signingBehavior"));
    cf_x_text(b, "OriginAccessControlOriginType", cf_js(o, "originType"));
    ct_buf_puts(b, "</OriginAccessControlSummary>");
}

static int do_list(ct_edge *e, const ct_http_req *req, ct_http_resp *resp, cf_fail *f)
{
    void *v = NULL;
    if (edge_oac_list_all(e, &v))
        return cf_failf(f, 500, "InternalError", "Cannot list origin access controls");
    char *marker = ct_http_query(req, "Marker"), *mi = ct_http_query(req, "MaxItems");
    long max = mi && *mi ? strtol(mi, NULL, 10) : OAC_LIST_MAX;
    if (max <= 0 || max > OAC_LIST_MAX)
        max = OAC_LIST_MAX;
    cf_reply_page(resp, "OriginAccessControlList", v, marker, max, oac_summary);
    free(marker);
    free(mi);
    json_decref(v);
    return 0;
}

void cf_oac_route(ct_edge *e, const char *rest, const ct_http_req *req, ct_http_resp *resp,
                  cf_fail *f)
{
    const char *m = req->method;
    char id[32] = "", sub[16] = "";
    if (!*rest || !strcmp(rest, "/")) {
        if (!strcmp(m, "POST"))
            do_create(e, req, resp, f);
        else if (!strcmp(m, "GET"))
            do_list(e, req, resp, f);
        else
            cf_failf(f, 405, "MethodNotAllowed", "Method %s is not allowed here", m);
        return;
    }
    int n = 0;
    if (sscanf(rest, "/%31[A-Za-z0-9]%n", id, &n) != 1 ||
        (rest[n] && (sscanf(rest + n, "/%15[a-z]", sub) != 1 || strcmp(rest + n + 1, sub) ||
                     strcmp(sub, "config")))) {
        cf_failf(f, 404, "NoSuchOriginAccessControl", "The origin access control does not exist.");
        return;
    }
    json_t *o = NULL;
    if (!strcmp(m, "GET")) {
        if (!load_oac(e, id, &o, f))
            reply_oac(resp, 200, o, sub[0] != '\0');
        json_decref(o);
    } else if (sub[0] && !strcmp(m, "PUT")) {
        do_update(e, id, req, resp, f);
    } else if (!sub[0] && !strcmp(m, "DELETE")) {
        do_delete(e, id, req, resp, f);
    } else {
        cf_failf(f, 405, "MethodNotAllowed", "Method %s is not allowed here", m);
    }
}
