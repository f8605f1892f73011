/* mc_errors.c: ct_err -> MediaConvert's JSON error shape, in one table.
 *
 * DESIGN: botocore's rest-json parser takes the error code from the
 * x-amzn-ErrorType header (falling back to "__type"/"code" in the body) and the
 * message from "message"; we send both so the CLI prints
 * "An error occurred (BadRequestException) when calling ...: <message>". */
#include "mc/mc_internal.h"

#include <stdlib.h>
#include <string.h>

static const struct {
    ct_err err;
    int status;
} err_table[] = {
    {CT_ERR_INVALID, 400},   {CT_ERR_TOO_LARGE, 400},   {CT_ERR_UNSUPPORTED, 400},
    {CT_ERR_PRECONDITION, 400}, {CT_ERR_DIGEST, 400},   {CT_ERR_NOT_FOUND, 404},
    {CT_ERR_EXISTS, 409},    {CT_ERR_CONFLICT, 409},    {CT_ERR_DENIED, 403},
    {CT_ERR_AUTH, 403},      {CT_ERR_SKEW, 403},        {CT_ERR_EXPIRED, 403},
    {CT_ERR_TIMEOUT, 429},   {CT_ERR_CANCELED, 409},
};

static const struct {
    int status;
    const char *type;
} type_table[] = {
    {400, "BadRequestException"},  {403, "ForbiddenException"},
    {404, "NotFoundException"},    {409, "ConflictException"},
    {429, "TooManyRequestsException"},
};

int mc_err_status(ct_err e)
{
    for (size_t i = 0; i < CT_ARRAY_LEN(err_table); i++)
        if (err_table[i].err == e)
            return err_table[i].status;
    return 500;
}

const char *mc_err_type(int status)
{
    for (size_t i = 0; i < CT_ARRAY_LEN(type_table); i++)
        if (type_table[i].status == status)
            return type_table[i].type;
    return "InternalServerErrorException";
}

void mc_reply(ct_http_resp *resp, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        mc_error(resp, CT_ERR_NOMEM, NULL);
        return;
    }
    ct_http_resp_json(resp, status, text);
}

void mc_error(ct_http_resp *resp, ct_err e, const char *msg)
{
    int status = mc_err_status(e);
    const char *type = mc_err_type(status);
    if (!msg || !*msg)
        msg = status == 500 ? "internal error" : ct_err_str(e);
    if (status == 500)
        ct_error("mc: internal error: %s (%s)", msg, ct_err_str(e));
    json_t *body = json_pack("{s:s, s:s}", "message", msg, "__type", type);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    ct_http_resp_header(resp, "x-amzn-ErrorType", type);
    ct_http_resp_json(resp, status, text ? text : strdup("{\"message\":\"internal error\"}"));
}
