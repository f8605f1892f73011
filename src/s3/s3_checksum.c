/* s3_checksum.c: S3's flexible checksums (x-amz-checksum-crc32, -crc32c,
 * -crc64nvme, -sha1, -sha256) on PutObject, UploadPart,
 * CreateMultipartUpload and CompleteMultipartUpload.
 *
 * DESIGN: checksums are computed incrementally over the decoded body as it
 * streams into the store (ct_cksum from iam); nothing is buffered. A header
 * value is compared at the end of the body; a trailer value was already
 * verified by ct_chunked, so the computed value equals it. PutObject without
 * a checksum gets CRC64NVME, as S3 has done since 2025. Parts' checksums are
 * not kept in meta's parts table: CompleteMultipartUpload recomputes them
 * while it concatenates the (immutable, already verified) part blobs, and
 * checks the request's Checksum* elements against them. The object's
 * checksum lives in meta_json (see s3_internal.h). */
#include "s3/s3_internal.h"

#include <jansson.h>
#include <string.h>
#include <strings.h>

#define KEY_PREFIX "x-amz-checksum-"

static const struct {
    ct_cksum_algo algo;
    const char *upper;
    size_t raw_len;
} algos[] = {
    {CT_CKSUM_CRC32, "CRC32", 4},   {CT_CKSUM_CRC32C, "CRC32C", 4},
    {CT_CKSUM_CRC64NVME, "CRC64NVME", 8}, {CT_CKSUM_SHA1, "SHA1", 20},
    {CT_CKSUM_SHA256, "SHA256", 32},
};

static const char *upper_name(ct_cksum_algo a)
{
    for (size_t i = 0; i < CT_ARRAY_LEN(algos); i++)
        if (algos[i].algo == a)
            return algos[i].upper;
    return "";
}

static size_t raw_len(ct_cksum_algo a)
{
    for (size_t i = 0; i < CT_ARRAY_LEN(algos); i++)
        if (algos[i].algo == a)
            return algos[i].raw_len;
    return 0;
}

static int is_crc(ct_cksum_algo a)
{
    return a == CT_CKSUM_CRC32 || a == CT_CKSUM_CRC32C || a == CT_CKSUM_CRC64NVME;
}

/* Base64 of exactly the algorithm's digest length; raw receives the bytes. */
static int b64_valid(ct_cksum_algo a, const char *v, unsigned char raw[48])
{
    size_t n = strlen(v), want = raw_len(a);
    if (!want || n != 4 * ((want + 2) / 3))
        return 0;
    return ct_b64_decode(v, n, raw) == (long)want;
}

static void header_name(ct_cksum_algo a, char out[32])
{
    snprintf(out, 32, KEY_PREFIX "%s", ct_cksum_name(a));
}

int s3_cksum_mode_enabled(const ct_http_req *req)
{
    const char *m = ct_http_header(req, "x-amz-checksum-mode");
    return m && strcasecmp(m, "ENABLED") == 0;
}

/* ---- reading the request ---- */

static void invalid(const ct_http_req *req, ct_http_resp *resp, const char *msg)
{
    ct_s3_error(resp, req, "InvalidRequest", msg);
}

/* The one x-amz-checksum-<algo> header, validated. -1 with resp filled. */
static int header_checksum(s3_cksum *c, const ct_http_req *req, ct_http_resp *resp)
{
    for (size_t i = 0; i < CT_ARRAY_LEN(algos); i++) {
        char name[32], msg[96];
        unsigned char raw[48];
        header_name(algos[i].algo, name);
        const char *v = ct_http_header(req, name);
        if (!v)
            continue;
        if (c->algo) {
            invalid(req, resp, "Expecting a single x-amz-checksum- header. Multiple checksum "
                               "Types are not allowed.");
            return -1;
        }
        if (!b64_valid(algos[i].algo, v, raw)) {
            snprintf(msg, sizeof msg, "Value for %s header is invalid.", name);
            invalid(req, resp, msg);
            return -1;
        }
        c->algo = algos[i].algo;
        c->sent = 1;
        snprintf(c->expected, sizeof c->expected, "%s", v);
    }
    return 0;
}

/* A checksum named by x-amz-trailer (ct_chunked refuses more than one). */
static int trailer_checksum(s3_cksum *c, const ct_http_req *req, ct_http_resp *resp)
{
    const char *names = ct_http_header(req, "x-amz-trailer");
    char buf[256];
    if (!names || strlen(names) >= sizeof buf)
        return 0;
    snprintf(buf, sizeof buf, "%s", names);
    char *save = NULL;
    for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        ct_cksum_algo a = ct_cksum_from_name(t);
        if (!a || strncasecmp(t, KEY_PREFIX, sizeof KEY_PREFIX - 1) != 0)
            continue;
        if (c->algo) {
            invalid(req, resp, "Expecting a single x-amz-checksum- header. Multiple checksum "
                               "Types are not allowed.");
            return -1;
        }
        c->algo = a;
        c->sent = 1;
        c->trailer = 1;
    }
    return 0;
}

/* x-amz-sdk-checksum-algorithm must name the checksum that was sent. */
static int sdk_algorithm(const s3_cksum *c, const ct_http_req *req, ct_http_resp *resp)
{
    const char *sdk = ct_http_header(req, "x-amz-sdk-checksum-algorithm");
    if (!sdk)
        return 0;
    ct_cksum_algo a = ct_cksum_from_name(sdk);
    if (!a || strncasecmp(sdk, KEY_PREFIX, sizeof KEY_PREFIX - 1) == 0) {
        invalid(req, resp, "Checksum algorithm provided is unsupported. Please try again with "
                           "any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]");
        return -1;
    }
    if (c->algo != a) {
        invalid(req, resp, "x-amz-sdk-checksum-algorithm specified, but no corresponding "
                           "x-amz-checksum-* or x-amz-trailer headers were found.");
        return -1;
    }
    return 0;
}

static ct_cksum_algo upload_algo(const char *meta_json, int *full_object)
{
    ct_cksum_algo a = CT_CKSUM_NONE;
    *full_object = 0;
    json_t *root = meta_json ? json_loads(meta_json, 0, NULL) : NULL;
    if (!root)
        return a;
    a = ct_cksum_from_name(json_string_value(json_object_get(root, KEY_PREFIX "algorithm")));
    const char *type = json_string_value(json_object_get(root, KEY_PREFIX "type"));
    *full_object = type && strcmp(type, "FULL_OBJECT") == 0;
    json_decref(root);
    return a;
}

/* UploadPart: the part's algorithm must be the upload's; the upload's is
 * computed when the part carries none. */
static int part_algorithm(s3_cksum *c, const ct_http_req *req, ct_http_resp *resp,
                          const char *upload_meta)
{
    int full;
    ct_cksum_algo u = upload_algo(upload_meta, &full);
    if (u && c->algo && c->algo != u) {
        char msg[160];
        snprintf(msg, sizeof msg, "Checksum Type mismatch occurred, expected checksum Type: %s, "
                 "actual checksum Type: %s", ct_cksum_name(u), ct_cksum_name(c->algo));
        invalid(req, resp, msg);
        return -1;
    }
    if (!c->algo)
        c->algo = u;
    return 0;
}

int s3_cksum_begin(s3_cksum *c, const ct_http_req *req, ct_http_resp *resp, int trailer_mode,
                   int is_part, const char *upload_meta)
{
    memset(c, 0, sizeof *c);
    if (header_checksum(c, req, resp) || (trailer_mode && trailer_checksum(c, req, resp)) ||
        sdk_algorithm(c, req, resp))
        return -1;
    if (is_part && part_algorithm(c, req, resp, upload_meta))
        return -1;
    if (!is_part && !c->algo)
        c->algo = CT_CKSUM_CRC64NVME; /* S3's default for new objects */
    if (c->algo && ct_cksum_init(&c->ck, c->algo)) {
        c->algo = CT_CKSUM_NONE;
        s3_internal_error(resp, req, CT_ERR_NOMEM);
        return -1;
    }
    return 0;
}

void s3_cksum_data(s3_cksum *c, const void *p, size_t n)
{
    if (c->algo)
        ct_cksum_update(&c->ck, p, n);
}

static void bad_digest(ct_cksum_algo a, const ct_http_req *req, ct_http_resp *resp)
{
    char msg[96];
    snprintf(msg, sizeof msg, "The %s you specified did not match the calculated checksum.",
             upper_name(a));
    ct_s3_error(resp, req, "BadDigest", msg);
}

int s3_cksum_end(s3_cksum *c, const ct_http_req *req, ct_http_resp *resp)
{
    if (!c->algo)
        return 0;
    if (ct_cksum_final(&c->ck, c->value)) {
        s3_internal_error(resp, req, CT_ERR_INTERNAL);
        return -1;
    }
    if (c->expected[0] && strcmp(c->expected, c->value) != 0) {
        bad_digest(c->algo, req, resp);
        return -1;
    }
    return 0;
}

void s3_cksum_trailer_error(const s3_cksum *c, const ct_http_req *req, ct_http_resp *resp,
                            const char *detail)
{
    if (c->trailer)
        bad_digest(c->algo, req, resp);
    else
        ct_s3_error(resp, req, "BadDigest", detail && detail[0] ? detail : "checksum mismatch");
}

void s3_cksum_free(s3_cksum *c) { ct_cksum_free(&c->ck); }

void s3_cksum_headers(ct_http_resp *resp, const s3_cksum *c, int is_part)
{
    char name[32];
    if (!c->algo || !c->value[0])
        return;
    header_name(c->algo, name);
    ct_http_resp_header(resp, name, c->value);
    if (!is_part)
        ct_http_resp_header(resp, KEY_PREFIX "type", "FULL_OBJECT");
}

/* ---- stored form ---- */

static void drop_checksum_keys(json_t *o)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(o, tmp, k, v) {
        if (strncmp(k, KEY_PREFIX, sizeof KEY_PREFIX - 1) == 0)
            json_object_del(o, k);
    }
}

char *s3_cksum_meta(const char *meta_json, ct_cksum_algo a, const char *value, const char *type)
{
    json_t *o = meta_json ? json_loads(meta_json, 0, NULL) : json_object();
    char *s = NULL;
    if (!json_is_object(o))
        goto cleanup;
    drop_checksum_keys(o);
    if (a && value && value[0]) {
        char name[32];
        header_name(a, name);
        json_object_set_new(o, name, json_string(value));
        json_object_set_new(o, KEY_PREFIX "type", json_string(type));
    }
    if (json_object_size(o))
        s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
cleanup:
    json_decref(o);
    return s;
}

/* ---- CreateMultipartUpload ---- */

static int create_type(const ct_http_req *req, ct_http_resp *resp, ct_cksum_algo a,
                       const char **type)
{
    const char *t = ct_http_header(req, KEY_PREFIX "type");
    *type = a == CT_CKSUM_CRC64NVME ? "FULL_OBJECT" : "COMPOSITE";
    if (!t)
        return 0;
    if (!a) {
        invalid(req, resp, "The x-amz-checksum-type header can only be used with the "
                           "x-amz-checksum-algorithm header.");
        return -1;
    }
    int full = strcasecmp(t, "FULL_OBJECT") == 0;
    if (!full && strcasecmp(t, "COMPOSITE") != 0) {
        invalid(req, resp, "Value for x-amz-checksum-type header is invalid.");
        return -1;
    }
    if ((full && !is_crc(a)) || (!full && a == CT_CKSUM_CRC64NVME)) {
        char msg[128];
        snprintf(msg, sizeof msg, "The %s checksum algorithm does not support the %s checksum "
                 "type.", upper_name(a), full ? "FULL_OBJECT" : "COMPOSITE");
        invalid(req, resp, msg);
        return -1;
    }
    *type = full ? "FULL_OBJECT" : "COMPOSITE";
    return 0;
}

int s3_cksum_create(const ct_http_req *req, ct_http_resp *resp, char **meta_json)
{
    const char *name = ct_http_header(req, KEY_PREFIX "algorithm");
    ct_cksum_algo a = ct_cksum_from_name(name);
    const char *type;
    if (name && (!a || strncasecmp(name, KEY_PREFIX, sizeof KEY_PREFIX - 1) == 0)) {
        invalid(req, resp, "Checksum algorithm provided is unsupported. Please try again with "
                           "any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]");
        return -1;
    }
    if (create_type(req, resp, a, &type))
        return -1;
    if (!a)
        return 0;
    json_t *o = *meta_json ? json_loads(*meta_json, 0, NULL) : json_object();
    if (!json_is_object(o)) {
        json_decref(o);
        s3_internal_error(resp, req, CT_ERR_INTERNAL);
        return -1;
    }
    json_object_set_new(o, KEY_PREFIX "algorithm", json_string(upper_name(a)));
    json_object_set_new(o, KEY_PREFIX "type", json_string(type));
    free(*meta_json);
    *meta_json = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (!*meta_json) {
        s3_internal_error(resp, req, CT_ERR_NOMEM);
        return -1;
    }
    return 0;
}

void s3_cksum_create_headers(ct_http_resp *resp, const char *meta_json)
{
    int full;
    ct_cksum_algo a = upload_algo(meta_json, &full);
    if (!a)
        return;
    ct_http_resp_header(resp, KEY_PREFIX "algorithm", upper_name(a));
    ct_http_resp_header(resp, KEY_PREFIX "type", full ? "FULL_OBJECT" : "COMPOSITE");
}

/* ---- CompleteMultipartUpload ---- */

/* The part's Checksum<ALGO> element: its algorithm and text. */
static ct_cksum_algo part_element(const ct_xml_node *part, const char **text)
{
    for (size_t i = 0; i < CT_ARRAY_LEN(algos); i++) {
        char name[24];
        snprintf(name, sizeof name, "Checksum%s", algos[i].upper);
        if ((*text = ct_xml_child_text(part, name)))
            return algos[i].algo;
    }
    return CT_CKSUM_NONE;
}

static const char *collect_elements(s3_mpu_cksum *m, const ct_xml_node *root, ct_cksum_algo u)
{
    int i = 0;
    ct_cksum_algo seen = CT_CKSUM_NONE;
    for (const ct_xml_node *p = root->first_child; p && i < m->nparts; p = p->next) {
        if (strcmp(p->name, "Part") != 0)
            continue;
        const char *text;
        ct_cksum_algo a = part_element(p, &text);
        if (a && ((u && a != u) || (seen && a != seen))) {
            snprintf(m->msg, sizeof m->msg, "The checksum of part %d does not use the upload's "
                     "checksum algorithm (%s).", i + 1, upper_name(u ? u : seen));
            return "InvalidPart";
        }
        if (a) {
            seen = a;
            m->expected[i] = text;
        }
        i++;
    }
    m->part_algo = u ? u : seen;
    return NULL;
}

/* An x-amz-checksum-<algo> header on Complete: the whole object's. */
static const char *complete_header(s3_mpu_cksum *m, const ct_http_req *req)
{
    for (size_t i = 0; i < CT_ARRAY_LEN(algos); i++) {
        char name[32];
        header_name(algos[i].algo, name);
        const char *v = ct_http_header(req, name);
        if (!v)
            continue;
        if (m->header_algo || strlen(v) >= sizeof m->header) {
            snprintf(m->msg, sizeof m->msg, "Expecting a single x-amz-checksum- header.");
            return "InvalidRequest";
        }
        m->header_algo = algos[i].algo;
        snprintf(m->header, sizeof m->header, "%s", v);
    }
    return NULL;
}

static const char *choose_algos(s3_mpu_cksum *m, ct_cksum_algo u, int full)
{
    if (u) {
        m->composite = !full;
        m->whole_algo = full ? u : CT_CKSUM_NONE;
    } else {
        /* No algorithm chosen at Create: a full-object CRC, the client's or S3's default. */
        m->whole_algo = is_crc(m->header_algo) ? m->header_algo : CT_CKSUM_CRC64NVME;
    }
    ct_cksum_algo object = m->composite ? m->part_algo : m->whole_algo;
    if (m->header_algo && m->header_algo != object) {
        snprintf(m->msg, sizeof m->msg, "The upload was created using the %s checksum algorithm, "
                 "not %s.", upper_name(object), upper_name(m->header_algo));
        return "InvalidRequest";
    }
    return NULL;
}

const char *s3_mpu_cksum_begin(s3_mpu_cksum *m, const ct_http_req *req, const char *upload_meta,
                               const ct_xml_node *root, int nparts)
{
    memset(m, 0, sizeof *m);
    m->nparts = nparts;
    int full;
    ct_cksum_algo u = upload_algo(upload_meta, &full);
    m->expected = calloc((size_t)(nparts > 0 ? nparts : 1), sizeof *m->expected);
    if (!m->expected) {
        snprintf(m->msg, sizeof m->msg, "out of memory");
        return "InternalError";
    }
    const char *code = collect_elements(m, root, u);
    if (!code)
        code = complete_header(m, req);
    if (!code)
        code = choose_algos(m, u, full);
    if (code)
        return code;
    if ((m->part_algo && ct_cksum_init(&m->part, m->part_algo)) ||
        (m->whole_algo && ct_cksum_init(&m->whole, m->whole_algo)) ||
        (m->composite && ct_cksum_init(&m->comp, m->part_algo))) {
        snprintf(m->msg, sizeof m->msg, "out of memory");
        return "InternalError";
    }
    return NULL;
}

void s3_mpu_cksum_data(s3_mpu_cksum *m, const void *p, size_t n)
{
    if (m->part_algo)
        ct_cksum_update(&m->part, p, n);
    if (m->whole_algo)
        ct_cksum_update(&m->whole, p, n);
}

int s3_mpu_cksum_part_end(s3_mpu_cksum *m)
{
    int i = m->cur++;
    if (!m->part_algo || i >= m->nparts)
        return 0;
    char v[CT_CKSUM_B64_MAX];
    unsigned char raw[48];
    ct_err e = ct_cksum_final(&m->part, v);
    ct_cksum_free(&m->part);
    if (e || ct_cksum_init(&m->part, m->part_algo)) {
        m->code = "InternalError";
        snprintf(m->msg, sizeof m->msg, "checksum failed");
        return -1;
    }
    if (m->expected[i] && strcmp(m->expected[i], v) != 0) {
        m->code = "InvalidPart";
        snprintf(m->msg, sizeof m->msg, "The %s you specified for part %d did not match the "
                 "part's checksum.", upper_name(m->part_algo), i + 1);
        return -1;
    }
    if (m->composite && b64_valid(m->part_algo, v, raw))
        ct_cksum_update(&m->comp, raw, raw_len(m->part_algo));
    return 0;
}

int s3_mpu_cksum_end(s3_mpu_cksum *m)
{
    char v[CT_CKSUM_B64_MAX];
    ct_err e = CT_OK;
    if (m->composite) {
        e = ct_cksum_final(&m->comp, v);
        snprintf(m->value, sizeof m->value, "%s-%d", v, m->nparts);
    } else if (m->whole_algo) {
        e = ct_cksum_final(&m->whole, m->value);
    }
    if (e) {
        m->code = "InternalError";
        snprintf(m->msg, sizeof m->msg, "checksum failed");
        return -1;
    }
    size_t n = strcspn(m->value, "-");
    int ok = !m->header_algo || strcmp(m->header, m->value) == 0 ||
             (strlen(m->header) == n && strncmp(m->header, m->value, n) == 0);
    if (!ok) {
        m->code = "BadDigest";
        snprintf(m->msg, sizeof m->msg, "The %s you specified did not match the calculated "
                 "checksum.", upper_name(m->header_algo));
        return -1;
    }
    return 0;
}

static ct_cksum_algo object_algo(const s3_mpu_cksum *m)
{
    return m->composite ? m->part_algo : m->whole_algo;
}

char *s3_mpu_cksum_meta(const s3_mpu_cksum *m, const char *upload_meta)
{
    return s3_cksum_meta(upload_meta, object_algo(m), m->value,
                         m->composite ? "COMPOSITE" : "FULL_OBJECT");
}

void s3_mpu_cksum_xml(ct_buf *x, const s3_mpu_cksum *m)
{
    ct_cksum_algo a = object_algo(m);
    if (!a || !m->value[0])
        return;
    const char *u = upper_name(a);
    ct_buf_printf(x, "<Checksum%s>%s</Checksum%s><ChecksumType>%s</ChecksumType>", u, m->value,
                  u, m->composite ? "COMPOSITE" : "FULL_OBJECT");
}

void s3_mpu_cksum_free(s3_mpu_cksum *m)
{
    ct_cksum_free(&m->part);
    ct_cksum_free(&m->whole);
    ct_cksum_free(&m->comp);
    free(m->expected);
    m->expected = NULL;
}
