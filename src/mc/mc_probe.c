/* mc_probe.c: Probe (POST /2017-08-29/probe).
 *
 * DESIGN: the request names up to MC_PROBE_MAX files by s3:// URL; each is
 * probed through the server's probe function (ct_mc_config.probe: the
 * caller's s3:GetObject is checked there and the media is parsed in the
 * sandboxed child, never here). mc only validates the request and shapes the
 * reply: probeResults[i] = {container, metadata, trackMappings}. The first
 * file that cannot be probed fails the whole request with its error, naming
 * the file. Debian's botocore model predates Probe, so the body is checked
 * here by hand (lowerCamelCase wire form; PascalCase accepted like
 * elsewhere). */
#include "mc/mc_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MC_PROBE_MAX 10

static const json_t *get2(const json_t *o, const char *camel, const char *pascal)
{
    const json_t *v = json_object_get(o, camel);
    return v ? v : json_object_get(o, pascal);
}

/* trackMappings: the track indexes by type (one mapping for the file). */
static json_t *track_mappings(const json_t *container)
{
    json_t *v = json_array(), *a = json_array(), *d = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(container, "tracks"), i, t) {
        const char *type = json_string_value(json_object_get(t, "trackType"));
        json_t *idx = json_object_get(t, "index");
        json_t *dst = !type ? NULL : strcmp(type, "video") == 0 ? v : strcmp(type, "audio") == 0 ? a : d;
        if (dst && idx)
            json_array_append(dst, idx);
    }
    return json_pack("[{s:o, s:o, s:o}]", "videoTrackIndexes", v, "audioTrackIndexes", a,
                     "dataTrackIndexes", d);
}

static json_t *probe_result(const ct_mc_probe_out *o)
{
    json_t *c = json_loads(o->container_json, 0, NULL);
    if (!json_is_object(c)) {
        json_decref(c);
        return NULL;
    }
    json_t *meta = json_pack("{s:s, s:I, s:I, s:s}", "eTag", o->etag, "fileSize",
                             (json_int_t)o->size, "lastModified",
                             (json_int_t)(o->last_modified_ms / 1000), "mimeType",
                             o->content_type[0] ? o->content_type : "application/octet-stream");
    return json_pack("{s:o, s:o, s:o}", "container", c, "metadata", meta, "trackMappings",
                     track_mappings(c));
}

/* Probes one file into results; CT_OK or an error with msg set. */
static ct_err probe_one(ct_mc *mc, const ct_http_req *req, size_t i, const json_t *file,
                        json_t *results, char *msg, size_t msglen)
{
    const char *url = json_string_value(get2(file, "fileUrl", "FileUrl"));
    char bucket[64], key[1025];
    ct_mc_probe_out out;
    memset(&out, 0, sizeof out);
    if (!url) {
        snprintf(msg, msglen, "inputFiles[%zu].fileUrl: required", i);
        return CT_ERR_INVALID;
    }
    if (mc_parse_s3(url, bucket, key, sizeof key, 0)) {
        snprintf(msg, msglen, "inputFiles[%zu].fileUrl: must be an s3://bucket/key URL (got \"%.300s\")",
                 i, url);
        return CT_ERR_INVALID;
    }
    ct_err err = mc->probe(mc->probe_ctx, req, bucket, key, &out);
    json_t *r = err ? NULL : probe_result(&out);
    if (err)
        snprintf(msg, msglen, "inputFiles[%zu].fileUrl: %.300s: %s", i, url,
                 out.msg[0] ? out.msg : ct_err_str(err));
    else if (!r || json_array_append_new(results, r))
        err = CT_ERR_NOMEM;
    free(out.container_json);
    return err;
}

void mc_h_probe(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp)
{
    (void)id;
    mc_diag d;
    char msg[1600] = "";
    ct_err err = CT_ERR_INVALID;
    json_t *results = json_array();
    mc_diag_init(&d, "", NULL);
    json_t *body = mc_json_load(req->body, req->body_len, &d);
    const json_t *files = get2(body, "inputFiles", "InputFiles");
    size_t n = json_array_size(files), i;
    if (!body)
        snprintf(msg, sizeof msg, "%s", d.msg);
    else if (!json_is_array(files) || n == 0 || n > MC_PROBE_MAX)
        snprintf(msg, sizeof msg, "inputFiles: a list of 1 to %d files is required", MC_PROBE_MAX);
    else if (!mc->probe)
        snprintf(msg, sizeof msg, "Probe is not available on this server");
    else
        err = CT_OK;
    for (i = 0; !err && i < n; i++)
        err = probe_one(mc, req, i, json_array_get(files, i), results, msg, sizeof msg);
    if (err)
        mc_error(resp, err, msg);
    else
        mc_reply(resp, 200, json_pack("{s:O}", "probeResults", results));
    json_decref(results);
    json_decref(body);
}
