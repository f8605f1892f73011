/* Private to events/: the dispatcher state shared by events.c (outbox and
 * job-event fan-out), webhook.c (the delivery sender), sse.c (live stream)
 * and events_admin.c. */
#ifndef CT_EVENTS_INTERNAL_H
#define CT_EVENTS_INTERNAL_H

#include "events/events.h"

#include <pthread.h>

typedef struct events_sender events_sender;
typedef struct events_hub events_hub;

struct ct_events {
    char region[32];
    char account_id[16];
    ct_meta *meta;
    ct_mc *mc;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int kicked;
    int stopping;
    int64_t last_prune_ms;
    events_sender *sender;
    events_hub *hub;
    unsigned char master[32];
    int has_master;
    char *webhook_ca_file; /* NULL: the system's CAs */
};

/* webhook.c: one thread POSTs due deliveries; kick after adding some. */
ct_err events_sender_start(ct_events *ev, events_sender **out);
void events_sender_kick(events_sender *s);
void events_sender_stop(events_sender *s);
/* webhook.c: a webhook secret -> its stored form (sealed under the master
 * key, the webhook name bound in), heap string in *out. */
ct_err events_secret_seal(const ct_events *ev, const char *name, const char *secret, char **out);
/* Seals the secrets of webhooks stored in plaintext (made before sealing). */
void events_secrets_seal_plaintext(ct_events *ev);

/* sse.c: a ring of recent events and the clients streaming them. */
#define EVENTS_SSE_MAX_CLIENTS 64
ct_err events_hub_open(events_hub **out);
/* Ends every stream; frees the hub once its clients are gone. */
void events_hub_close(events_hub *h);
/* event: "mediaconvert" or "s3"; json: one line. */
void events_hub_publish(events_hub *h, const char *event, const char *json);
/* Turns resp into a text/event-stream response. last_id: the client's
 * Last-Event-ID header or NULL. CT_ERR_TOO_LARGE when the client limit is hit. */
ct_err events_hub_attach(events_hub *h, const char *last_id, ct_http_resp *resp);

#endif
