/* cli: subcommands of the one cattube binary. Each returns a process exit code. */
#ifndef CT_CLI_H
#define CT_CLI_H

#include "http/http.h"
#include "iam/iam.h"

int ct_cmd_serve(int argc, char **argv);
int ct_cmd_worker(int argc, char **argv);
/* Admin API for users, access keys and policies (/cattube/admin/users...). */
void ct_iam_admin_handle(ct_iam *iam, const ct_http_req *req, ct_http_resp *resp);
int ct_cmd_distribution(int argc, char **argv);

#endif
