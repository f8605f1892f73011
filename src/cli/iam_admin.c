/* iam_admin.c: admin API for users, access keys and policies (not yet built). */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

void ct_iam_admin_handle(ct_iam *iam, const ct_http_req *req, ct_http_resp *resp)
{
    ct_http_resp_json(resp, 501, strdup("{\"message\":\"users and policies are not implemented yet\"}"));
}
