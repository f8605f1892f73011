/* client_internal.h: the client's state, shared by client.c and client_s3.c. */
#ifndef CT_CLIENT_INTERNAL_H
#define CT_CLIENT_INTERNAL_H

#include "client/client.h"

#include <curl/curl.h>

struct ct_client {
    ct_client_config cfg; /* strings below are the owned copies */
    char *endpoint, *access_key, *secret_key, *session_token, *region, *service, *ca_file;
    CURL *curl;
    char curl_err[CURL_ERROR_SIZE]; /* libcurl's detail ("SSL certificate problem: ...") */
};

#endif
