/* sse.c: the server-sent-events stream of GET /cattube/admin/events.
 *
 * DESIGN: the dispatcher publishes each rendered event into a ring of the
 * last SSE_RING frames, numbered by a sequence that is also the SSE "id:".
 * Each client is an http streamed body (ct_http_resp.reader) whose reader
 * runs on the client's connection thread: it copies pending bytes, else waits
 * up to 1 s on the hub's condition variable for frames newer than the
 * client's cursor, else sends ": keepalive" after SSE_KEEPALIVE_MS of
 * silence. A client that falls more than SSE_RING frames behind is told how
 * many it missed and skips ahead. Last-Event-ID resumes within the ring.
 * Closing the hub ends every stream; http's own stop flag ends them too. */
#include "events/events_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SSE_RING 256
#define SSE_KEEPALIVE_MS 15000
#define SSE_MAX_FRAME ((size_t)256 << 10)
#define SSE_MAX_BATCH ((size_t)64 << 10)

struct events_hub {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t seq;                  /* number of the newest frame; 0 = none yet */
    char *ring[SSE_RING];         /* frame of seq s at ring[s % SSE_RING] */
    int clients;
    int closing;
};

typedef struct {
    events_hub *hub;
    int64_t next;                 /* next frame number to send */
    int64_t last_write_ms;
    ct_buf pending;
    size_t off;
} sse_client;

ct_err events_hub_open(events_hub **out)
{
    events_hub *h = calloc(1, sizeof *h);
    if (!h)
        return CT_ERR_NOMEM;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    *out = h;
    return CT_OK;
}

void events_hub_close(events_hub *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->closing = 1;
    pthread_cond_broadcast(&h->cv);
    /* Readers notice within their 1 s wait; give them a moment to detach. */
    for (int i = 0; i < 30 && h->clients > 0; i++) {
        pthread_mutex_unlock(&h->mu);
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&h->mu);
    }
    int left = h->clients;
    pthread_mutex_unlock(&h->mu);
    if (left) { /* still referenced by a live connection: leak rather than crash */
        ct_warn("events: %d event stream(s) still open at shutdown", left);
        return;
    }
    for (int i = 0; i < SSE_RING; i++)
        free(h->ring[i]);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

void events_hub_publish(events_hub *h, const char *event, const char *json)
{
    ct_buf f = CT_BUF_INIT;
    f.max = SSE_MAX_FRAME;
    pthread_mutex_lock(&h->mu);
    int64_t seq = h->seq + 1;
    /* json is one line (JSON_COMPACT never emits raw newlines). */
    if (ct_buf_printf(&f, "id: %lld\nevent: %s\ndata: %s\n\n", (long long)seq, event, json)) {
        ct_warn("events: stream frame too large, not streamed");
        goto cleanup;
    }
    free(h->ring[seq % SSE_RING]);
    h->ring[seq % SSE_RING] = ct_buf_take(&f);
    h->seq = seq;
    pthread_cond_broadcast(&h->cv);
cleanup:
    pthread_mutex_unlock(&h->mu);
    ct_buf_free(&f);
}

/* Caller holds h->mu: appends frames after the client's cursor. */
static void collect_frames(events_hub *h, sse_client *c)
{
    int64_t oldest = h->seq - SSE_RING + 1;
    if (oldest < 1)
        oldest = 1;
    if (c->next < oldest) {
        ct_buf_printf(&c->pending, ": missed %lld event(s)\n\n", (long long)(oldest - c->next));
        c->next = oldest;
    }
    while (c->next <= h->seq && c->pending.len < SSE_MAX_BATCH) {
        const char *f = h->ring[c->next % SSE_RING];
        if (f && ct_buf_puts(&c->pending, f))
            break;
        c->next++;
    }
}

/* Waits (<= 1 s) for something to send; returns -1 when the hub closes. */
static int fill(sse_client *c)
{
    events_hub *h = c->hub;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 1;
    pthread_mutex_lock(&h->mu);
    while (!h->closing && c->next > h->seq)
        if (pthread_cond_timedwait(&h->cv, &h->mu, &ts) != 0)
            break;
    int closing = h->closing;
    if (!closing)
        collect_frames(h, c);
    pthread_mutex_unlock(&h->mu);
    if (closing)
        return -1;
    int64_t now = ct_mono_ms();
    if (c->pending.len == 0 && now - c->last_write_ms >= SSE_KEEPALIVE_MS)
        ct_buf_puts(&c->pending, ": keepalive\n\n");
    return 0;
}

static long sse_read(void *ctx, char *buf, size_t max)
{
    sse_client *c = ctx;
    if (c->off >= c->pending.len) {
        ct_buf_reset(&c->pending);
        c->off = 0;
        if (fill(c) < 0)
            return -1;
        if (c->pending.len == 0)
            return 0;
    }
    size_t n = c->pending.len - c->off;
    if (n > max)
        n = max;
    memcpy(buf, c->pending.data + c->off, n);
    c->off += n;
    c->last_write_ms = ct_mono_ms();
    return (long)n;
}

static void sse_free(void *ctx)
{
    sse_client *c = ctx;
    events_hub *h = c->hub;
    pthread_mutex_lock(&h->mu);
    h->clients--;
    pthread_mutex_unlock(&h->mu);
    ct_buf_free(&c->pending);
    free(c);
}

/* Caller holds h->mu. Where a new client starts: after last_id when that is
 * still in the ring (or just before it), else with the next new frame. */
static int64_t start_at(events_hub *h, const char *last_id)
{
    if (last_id && *last_id) {
        char *end = NULL;
        long long v = strtoll(last_id, &end, 10);
        if (end && !*end && v >= 0 && v <= h->seq)
            return (int64_t)v + 1;
    }
    return h->seq + 1;
}

ct_err events_hub_attach(events_hub *h, const char *last_id, ct_http_resp *resp)
{
    sse_client *c = calloc(1, sizeof *c);
    if (!c)
        return CT_ERR_NOMEM;
    c->hub = h;
    c->last_write_ms = ct_mono_ms();
    pthread_mutex_lock(&h->mu);
    if (h->clients >= EVENTS_SSE_MAX_CLIENTS || h->closing) {
        pthread_mutex_unlock(&h->mu);
        free(c);
        return CT_ERR_TOO_LARGE;
    }
    h->clients++;
    c->next = start_at(h, last_id);
    pthread_mutex_unlock(&h->mu);
    /* Something to send at once, so the client sees the stream open. */
    ct_buf_puts(&c->pending, "retry: 2000\n: cattube events\n\n");
    resp->status = 200;
    ct_http_resp_header(resp, "Content-Type", "text/event-stream");
    ct_http_resp_header(resp, "Cache-Control", "no-cache");
    ct_http_resp_header(resp, "X-Accel-Buffering", "no");
    resp->reader = sse_read;
    resp->reader_free = sse_free;
    resp->reader_ctx = c;
    return CT_OK;
}
