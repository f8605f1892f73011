/* webhook.c: delivering events to webhooks (HTTP POST, HMAC-signed).
 *
 * WIRE: each delivery is POST <url> with the event JSON as the body and
 *   Content-Type: application/json
 *   User-Agent: CatTube-Webhooks/1
 *   X-CatTube-Event-Type: s3 | mediaconvert
 *   X-CatTube-Delivery: <delivery id>      (the same on every retry: dedupe on it)
 *   X-CatTube-Attempt: <1-based attempt number>
 *   X-CatTube-Timestamp: <unix seconds when this attempt was signed>
 *   X-CatTube-Signature: sha256=<hex HMAC-SHA256(secret, timestamp "." body)>
 * A receiver recomputes the HMAC over the timestamp header, a '.', and the
 * raw body bytes, compares in constant time, and rejects stale timestamps.
 *
 * DESIGN: one sender thread takes due rows from the deliveries table
 * (meta_events.c) and POSTs them one at a time (connect timeout 2 s, total
 * 10 s, no redirects, no proxy, http/https only; https is verified against
 * the system's CAs, or serve's --webhook-ca-file). Any 2xx is success; any
 * other answer or a transport error schedules a retry after
 * ct_events_backoff_ms(attempts) (1 s, 2 s, 4 s, ... capped at 5 min) until
 * WEBHOOK_MAX_ATTEMPTS, then the delivery is "failed". State lives in the
 * database, so a restart resumes pending deliveries: at-least-once.
 * Secrets are sealed at rest like IAM users' (AES-256-GCM under the master
 * key, "webhook:NAME" as associated data so rows cannot be swapped): a copy
 * of the database alone cannot forge signatures. Plaintext rows from before
 * sealing are sealed when the events module starts, and still sign until
 * then. */
#include "events/events_internal.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WEBHOOK_MAX_ATTEMPTS 10
#define WEBHOOK_BATCH 16
#define WEBHOOK_IDLE_MS 1000
#define WEBHOOK_BACKOFF_CAP_MS (5 * 60 * 1000)

struct events_sender {
    ct_events *ev;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int kicked;
    volatile int stopping;
};

void ct_events_webhook_sign(const char *secret, const char *timestamp, const char *body,
                            size_t body_len, char out[72])
{
    ct_buf msg = CT_BUF_INIT;
    unsigned char mac[32];
    char hex[65];
    ct_buf_puts(&msg, timestamp);
    ct_buf_puts(&msg, ".");
    ct_buf_append(&msg, body, body_len);
    ct_hmac_sha256(secret, strlen(secret), msg.data ? msg.data : "", msg.len, mac);
    ct_hex(mac, 32, hex);
    snprintf(out, 72, "sha256=%s", hex);
    ct_buf_free(&msg);
}

int64_t ct_events_backoff_ms(int attempts)
{
    if (attempts < 1)
        attempts = 1;
    if (attempts > 20)
        return WEBHOOK_BACKOFF_CAP_MS;
    int64_t ms = 1000LL << (attempts - 1);
    return ms > WEBHOOK_BACKOFF_CAP_MS ? WEBHOOK_BACKOFF_CAP_MS : ms;
}

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
    (void)p;
    (void)ctx;
    return size * n;
}

static int abort_on_stop(void *ctx, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    return ((events_sender *)ctx)->stopping;
}

static struct curl_slist *signed_headers(const ct_meta_delivery *d, const char *secret)
{
    char ts[24], sig[72], line[160];
    struct curl_slist *h = NULL;
    snprintf(ts, sizeof ts, "%lld", (long long)(ct_now_ms() / 1000));
    ct_events_webhook_sign(secret, ts, d->body, strlen(d->body), sig);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    snprintf(line, sizeof line, "X-CatTube-Event-Type: %s", d->kind);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "X-CatTube-Delivery: %lld", (long long)d->id);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "X-CatTube-Attempt: %d", d->attempts + 1);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "X-CatTube-Timestamp: %s", ts);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "X-CatTube-Signature: %s", sig);
    h = curl_slist_append(h, line);
    return h;
}

/* One POST; *code is the HTTP status (0 without a response). */
static ct_err post(events_sender *s, const ct_meta_delivery *d, const ct_meta_webhook *w,
                   const char *secret, long *code, char *err, size_t errlen)
{
    char cerr[CURL_ERROR_SIZE] = "";
    *code = 0;
    CURL *c = curl_easy_init();
    struct curl_slist *h = c ? signed_headers(d, secret) : NULL;
    if (!c || !h) {
        snprintf(err, errlen, "out of memory");
        curl_easy_cleanup(c);
        return CT_ERR_NOMEM;
    }
    curl_easy_setopt(c, CURLOPT_URL, w->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "CatTube-Webhooks/1");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, d->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(d->body));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, abort_on_stop);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
    if (s->ev->webhook_ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, s->ev->webhook_ca_file);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
    else
        snprintf(err, errlen, "%s", cerr[0] ? cerr : curl_easy_strerror(rc));
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK)
        return CT_ERR_IO;
    if (*code < 200 || *code > 299) {
        snprintf(err, errlen, "HTTP %ld", *code);
        return CT_ERR_IO;
    }
    return CT_OK;
}

static void secret_aad(const char *name, char aad[80])
{
    snprintf(aad, 80, "webhook:%s", name);
}

ct_err events_secret_seal(const ct_events *ev, const char *name, const char *secret, char **out)
{
    char aad[80];
    size_t cap = CT_SEALED_LEN(strlen(secret));
    *out = ev->has_master ? malloc(cap) : strdup(secret);
    if (!*out)
        return CT_ERR_NOMEM;
    if (!ev->has_master)
        return CT_OK;
    secret_aad(name, aad);
    ct_err e = ct_seal_text(ev->master, aad, secret, *out, cap);
    if (e) {
        free(*out);
        *out = NULL;
    }
    return e;
}

/* The stored form -> the secret (heap, in *out); CT_ERR_AUTH when it does
 * not open with this master key. Plaintext rows are taken as they are. */
static ct_err secret_open(const ct_events *ev, const char *name, const char *stored, char **out)
{
    char aad[80];
    size_t cap = strlen(stored) + 1;
    *out = malloc(cap);
    if (!*out)
        return CT_ERR_NOMEM;
    if (!ct_is_sealed(stored)) {
        memcpy(*out, stored, cap);
        return CT_OK;
    }
    secret_aad(name, aad);
    if (ev->has_master && ct_unseal_text(ev->master, aad, stored, *out, cap) == CT_OK)
        return CT_OK;
    free(*out);
    *out = NULL;
    ct_warn("events: the secret of webhook %s does not open with this master key", name);
    return CT_ERR_AUTH;
}

typedef struct {
    char (*names)[65];
    char **stored;
    size_t n, cap;
} plain_list;

static ct_err collect_plain(void *ctx, const ct_meta_webhook *w)
{
    plain_list *l = ctx;
    if (ct_is_sealed(w->secret))
        return CT_OK;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        char(*names)[65] = realloc(l->names, cap * sizeof *names);
        if (names)
            l->names = names;
        char **stored = realloc(l->stored, cap * sizeof *stored);
        if (stored)
            l->stored = stored;
        if (!names || !stored)
            return CT_ERR_NOMEM;
        l->cap = cap;
    }
    if (!(l->stored[l->n] = strdup(w->secret)))
        return CT_ERR_NOMEM;
    memcpy(l->names[l->n++], w->name, sizeof w->name);
    return CT_OK;
}

void events_secrets_seal_plaintext(ct_events *ev)
{
    plain_list l = {0};
    int sealed = 0;
    /* Collected first: the list callback must not call back into meta. */
    ct_err e = ct_meta_webhook_list(ev->meta, collect_plain, &l);
    for (size_t i = 0; i < l.n; i++) {
        char *s = NULL;
        if (!e && (e = events_secret_seal(ev, l.names[i], l.stored[i], &s)) == CT_OK) {
            ct_err u = ct_meta_webhook_set_secret(ev->meta, l.names[i], l.stored[i], s);
            sealed += u == CT_OK;
            if (u != CT_OK && u != CT_ERR_NOT_FOUND) /* NOT_FOUND: deleted or sealed meanwhile */
                e = u;
        }
        free(s);
        explicit_bzero(l.stored[i], strlen(l.stored[i]));
        free(l.stored[i]);
    }
    free(l.names);
    free(l.stored);
    if (sealed)
        ct_info("events: sealed %d webhook secret(s) stored in plaintext", sealed);
    if (e)
        ct_warn("events: cannot seal the stored webhook secrets: %s", ct_err_str(e));
}

static void deliver_one(events_sender *s, const ct_meta_delivery *d)
{
    ct_meta *meta = s->ev->meta;
    ct_meta_webhook w;
    char err[300] = "";
    long code = 0;
    ct_err e = ct_meta_webhook_get(meta, d->webhook, &w);
    if (e == CT_ERR_NOT_FOUND) {
        ct_meta_delivery_result(meta, d->id, "failed", 0, "webhook deleted", 0);
        return;
    }
    if (e)
        return; /* database trouble: the row stays due */
    char *secret = NULL;
    e = secret_open(s->ev, w.name, w.secret, &secret);
    if (e)
        snprintf(err, sizeof err, "%s", e == CT_ERR_AUTH
                                            ? "the webhook's secret does not open with this master key"
                                            : ct_err_str(e));
    if (!e)
        e = post(s, d, &w, secret, &code, err, sizeof err);
    if (secret)
        explicit_bzero(secret, strlen(secret));
    free(secret);
    ct_meta_webhook_free(&w);
    if (s->stopping && e)
        return; /* aborted by shutdown: not an attempt, retried after restart */
    int attempts = d->attempts + 1;
    if (!e) {
        ct_meta_delivery_result(meta, d->id, "delivered", (int)code, NULL, 0);
    } else if (attempts >= WEBHOOK_MAX_ATTEMPTS) {
        ct_warn("events: delivery %lld to %s failed for good: %s", (long long)d->id,
                d->webhook, err);
        ct_meta_delivery_result(meta, d->id, "failed", (int)code, err, 0);
    } else {
        ct_meta_delivery_result(meta, d->id, "pending", (int)code, err,
                                ct_now_ms() + ct_events_backoff_ms(attempts));
    }
}

/* Sleeps until kicked, stopping, or the next retry is due (<= 1 s). */
static void sender_wait(events_sender *s)
{
    int64_t next = 0, wait_ms = WEBHOOK_IDLE_MS;
    if (ct_meta_delivery_next_due(s->ev->meta, &next) == CT_OK && next) {
        int64_t d = next - ct_now_ms();
        wait_ms = d < 0 ? 0 : d < wait_ms ? d : wait_ms;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = ts.tv_nsec + (wait_ms % 1000) * 1000000LL;
    ts.tv_sec += (time_t)(wait_ms / 1000 + ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    pthread_mutex_lock(&s->mu);
    while (!s->kicked && !s->stopping)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != 0)
            break;
    s->kicked = 0;
    pthread_mutex_unlock(&s->mu);
}

static void *sender_main(void *arg)
{
    events_sender *s = arg;
    ct_meta_delivery due[WEBHOOK_BATCH];
    while (!s->stopping) {
        int n = 0;
        if (ct_meta_delivery_due(s->ev->meta, ct_now_ms(), due, WEBHOOK_BATCH, &n))
            ct_warn("events: cannot read due deliveries");
        for (int i = 0; i < n; i++) {
            if (!s->stopping)
                deliver_one(s, &due[i]);
            ct_meta_delivery_free(&due[i]);
        }
        if (n < WEBHOOK_BATCH)
            sender_wait(s);
    }
    return NULL;
}

ct_err events_sender_start(ct_events *ev, events_sender **out)
{
    events_sender *s = calloc(1, sizeof *s);
    if (!s)
        return CT_ERR_NOMEM;
    s->ev = ev;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->thread, NULL, sender_main, s) != 0) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        free(s);
        return CT_ERR_INTERNAL;
    }
    *out = s;
    return CT_OK;
}

void events_sender_kick(events_sender *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->kicked = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void events_sender_stop(events_sender *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
