/* s3_errors.c: the one table from S3 error codes to HTTP statuses, and the
 * XML error body. */
#include "s3/s3_internal.h"

#include <string.h>

static const struct {
    const char *code;
    int status;
} s3_error_table[] = {
    {"AccessDenied", 403},
    {"AuthorizationHeaderMalformed", 400},
    {"BadDigest", 400},
    {"BucketAlreadyExists", 409},
    {"BucketAlreadyOwnedByYou", 409},
    {"BucketNotEmpty", 409},
    {"EntityTooLarge", 400},
    {"EntityTooSmall", 400},
    {"IncompleteBody", 400},
    {"InternalError", 500},
    {"InvalidAccessKeyId", 403},
    {"InvalidArgument", 400},
    {"InvalidBucketName", 400},
    {"InvalidDigest", 400},
    {"InvalidPart", 400},
    {"InvalidPartOrder", 400},
    {"InvalidRange", 416},
    {"InvalidRequest", 400},
    {"InvalidURI", 400},
    {"IllegalLocationConstraintException", 400},
    {"KeyTooLongError", 400},
    {"MalformedXML", 400},
    {"MalformedPOSTRequest", 400},
    {"MaxPostPreDataLengthExceeded", 400},
    {"InvalidPolicyDocument", 400},
    {"MethodNotAllowed", 405},
    {"MissingContentLength", 411},
    {"NoSuchBucket", 404},
    {"NoSuchKey", 404},
    {"NoSuchBucketPolicy", 404},
    {"NoSuchUpload", 404},
    {"NotImplemented", 501},
    {"PreconditionFailed", 412},
    {"RequestTimeTooSkewed", 403},
    {"ServiceUnavailable", 503},
    {"SignatureDoesNotMatch", 403},
    {"XAmzContentSHA256Mismatch", 400},
    {"InsufficientStorage", 507},
    {"NotModified", 304},
};

static int status_of(const char *code)
{
    for (size_t i = 0; i < CT_ARRAY_LEN(s3_error_table); i++)
        if (strcmp(s3_error_table[i].code, code) == 0)
            return s3_error_table[i].status;
    return 500;
}

void ct_s3_error(ct_http_resp *resp, const ct_http_req *req, const char *code,
                 const char *message)
{
    resp->status = status_of(code);
    ct_buf_reset(&resp->body);
    resp->head_length = -1;
    if (strcmp(req->method, "HEAD") == 0 || resp->status == 304) {
        /* HEAD responses carry no body; the status says it all. */
        ct_http_resp_header(resp, "x-amz-error-code", code);
        return;
    }
    ct_buf *b = &resp->body;
    ct_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>");
    ct_buf_puts(b, code);
    ct_buf_puts(b, "</Code><Message>");
    ct_xml_escape(b, message);
    ct_buf_puts(b, "</Message><Resource>");
    /* The resource is the decoded path; escape it like everything else. */
    size_t n;
    char *res = ct_uri_decode(req->path, strlen(req->path), 0, &n);
    ct_xml_escape(b, res && strlen(res) == n && ct_utf8_valid(res, n) ? res : req->path);
    free(res);
    ct_buf_puts(b, "</Resource><RequestId>");
    ct_buf_puts(b, req->request_id);
    ct_buf_puts(b, "</RequestId></Error>");
    ct_http_resp_header(resp, "Content-Type", "application/xml");
}

void ct_s3_auth_error(ct_http_resp *resp, const ct_http_req *req)
{
    const char *code = "AccessDenied";
    switch (req->auth_err) {
    case CT_ERR_AUTH: code = "SignatureDoesNotMatch"; break;
    case CT_ERR_SKEW: code = "RequestTimeTooSkewed"; break;
    case CT_ERR_EXPIRED: code = "AccessDenied"; break;
    case CT_ERR_INVALID:
        code = strstr(req->auth_msg, "Version 2") ? "InvalidRequest" : "AuthorizationHeaderMalformed";
        break;
    case CT_ERR_DENIED: code = "InvalidAccessKeyId"; break;
    case CT_ERR_DIGEST: code = "XAmzContentSHA256Mismatch"; break;
    case CT_ERR_TOO_LARGE: code = "EntityTooLarge"; break;
    default: break;
    }
    const char *msg = req->auth_msg[0] ? req->auth_msg : ct_err_str(req->auth_err);
    if (req->auth_err == CT_ERR_AUTH)
        msg = "The request signature we calculated does not match the signature you provided. "
              "Check your key and signing method.";
    else if (req->auth_err == CT_ERR_EXPIRED)
        msg = "Request has expired";
    ct_s3_error(resp, req, code, msg);
}

/* Maps internal errors from store/meta to S3 errors. */
void s3_internal_error(ct_http_resp *resp, const ct_http_req *req, ct_err e)
{
    if (e == CT_ERR_NOSPC)
        ct_s3_error(resp, req, "InsufficientStorage",
                    "There is not enough space on the server to store the object.");
    else
        ct_s3_error(resp, req, "InternalError", ct_err_str(e));
}
