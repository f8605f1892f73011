/* events_admin.c: admin API for webhooks and deliveries (not yet built). */
#include "events/events.h"

#include <stdlib.h>
#include <string.h>

void ct_events_admin_handle(ct_events *ev, const ct_http_req *req, ct_http_resp *resp)
{
    ct_http_resp_json(resp, 501, strdup("{\"message\":\"webhooks are not implemented yet\"}"));
}
