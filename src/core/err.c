#include "core/core.h"

static const char *const err_names[CT_ERR__COUNT] = {
    [CT_OK] = "ok",
    [CT_ERR_NOMEM] = "out of memory",
    [CT_ERR_IO] = "I/O error",
    [CT_ERR_NOSPC] = "no space left on device",
    [CT_ERR_INVALID] = "invalid input",
    [CT_ERR_NOT_FOUND] = "not found",
    [CT_ERR_EXISTS] = "already exists",
    [CT_ERR_CONFLICT] = "conflict",
    [CT_ERR_DENIED] = "access denied",
    [CT_ERR_AUTH] = "signature does not match",
    [CT_ERR_SKEW] = "request time too skewed",
    [CT_ERR_EXPIRED] = "request expired",
    [CT_ERR_TOO_LARGE] = "too large",
    [CT_ERR_PRECONDITION] = "precondition failed",
    [CT_ERR_UNSUPPORTED] = "not supported",
    [CT_ERR_DIGEST] = "checksum mismatch",
    [CT_ERR_DB] = "database error",
    [CT_ERR_CANCELED] = "canceled",
    [CT_ERR_TIMEOUT] = "timed out",
    [CT_ERR_INTERNAL] = "internal error",
};

const char *ct_err_str(ct_err e)
{
    if ((unsigned)e >= CT_ERR__COUNT)
        return "unknown error";
    return err_names[e];
}
