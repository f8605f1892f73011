/* s3_policy.h: S3 authorization (per-operation action and resource) and the
 * bucket policy API (?policy, ?policyStatus). Private to s3/. */
#ifndef CT_S3_POLICY_H
#define CT_S3_POLICY_H

#include "s3/s3_internal.h"

/* Whether the caller may perform the request on target t (the bucket policy
 * and, for CopyObject, s3:GetObject on the copy source included). Without an
 * iam (unit tests) only signed requests pass. */
int s3_authorize(ct_s3 *s, const ct_http_req *req, const s3_target *t);
/* One key's decision for operations authorized per key (DeleteObjects):
 * action on arn:aws:s3:::bucket/key, identity policies plus bucket_policy
 * (the bucket's policy JSON, NULL for none); explicit deny wins. */
int s3_allowed_key(ct_s3 *s, const ct_http_req *req, const char *action, const char *bucket,
                   const char *key, const char *bucket_policy);
/* The IAM action for a request on t ("s3:GetObject", ...); NULL for
 * DeleteObjects, which is authorized per key. */
const char *s3_action_of(const ct_http_req *req, const s3_target *t);
/* PUT/GET/DELETE ?policy and GET ?policyStatus on bucket. */
void s3_policy_op(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const char *bucket);

#endif
