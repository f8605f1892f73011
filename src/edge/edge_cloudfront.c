/* edge_cloudfront.c: the CloudFront REST/XML API (not yet built). */
#include "edge/edge.h"

#include <string.h>

void ct_edge_cloudfront_handle(ct_edge *e, const ct_http_req *req, ct_http_resp *resp)
{
    resp->status = 501;
    ct_buf_puts(&resp->body, "<?xml version=\"1.0\"?><ErrorResponse><Error><Type>Sender</Type>"
                             "<Code>NotImplemented</Code><Message>The CloudFront API is not "
                             "implemented yet</Message></Error></ErrorResponse>");
    ct_http_resp_header(resp, "Content-Type", "text/xml");
}
