/* libFuzzer target: policy documents (ct_iam_policy_validate / _eval /
 * _is_public) and the wildcard matcher.
 *
 * Input layout: byte 0 picks the document kind and a request shape; the
 * rest is the JSON text. Invariant: a document that validates and denies
 * never also allows the same request (eval returns one effect), and
 * evaluation never crashes whatever the text. */
#include "iam/iam.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > CT_POLICY_MAX + 1)
        return 0;
    char *doc = malloc(size);
    if (!doc)
        return 0;
    memcpy(doc, data + 1, size - 1);
    doc[size - 1] = '\0';
    ct_policy_kind kind = (data[0] & 1) ? CT_POLICY_RESOURCE : CT_POLICY_IDENTITY;
    char msg[256];
    (void)ct_iam_policy_validate(doc, kind, (data[0] & 2) ? "bucket" : NULL, msg, sizeof msg);
    ct_principal p;
    memset(&p, 0, sizeof p);
    p.anonymous = (data[0] & 4) != 0;
    strcpy(p.account_id, "123456789012");
    strcpy(p.arn, "arn:aws:iam::123456789012:user/alice");
    if (data[0] & 8)
        strcpy(p.service_principal, "cloudfront.amazonaws.com");
    ct_iam_request r = {.action = "s3:GetObject", .resource = "arn:aws:s3:::bucket/a/b.mp4",
                        .source_ip = (data[0] & 16) ? "::ffff:10.1.2.3" : "192.0.2.7",
                        .secure = (data[0] & 32) != 0,
                        .source_arn = "arn:aws:cloudfront::123456789012:distribution/E1"};
    ct_policy_effect eff = ct_iam_policy_eval(doc, kind, &p, &r);
    if (eff != CT_POLICY_NONE && eff != CT_POLICY_ALLOW && eff != CT_POLICY_DENY)
        abort();
    (void)ct_iam_policy_is_public(doc);
    /* the matcher on the document's own text as pattern */
    (void)ct_iam_wildcard(doc, "arn:aws:s3:::bucket/a/b.mp4", data[0] & 64);
    free(doc);
    return 0;
}
