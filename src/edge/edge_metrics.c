/* edge_metrics.c: request/byte counters and the origin latency histogram
 * (lock-free atomics), rendered in the Prometheus text exposition format for
 * GET /metrics on the edge's plain-HTTP listener. Cache counters come from
 * edge_cache_get_stats. */
#include "edge/edge_internal.h"

#include <stdlib.h>

/* Upper bounds of the origin latency buckets, in microseconds (1 ms .. 1 s). */
static const int64_t lat_bounds_us[EDGE_LAT_BUCKETS] = {1000,   2500,   5000,   10000,  25000,
                                                        50000,  100000, 250000, 500000, 1000000};

void edge_metrics_request(ct_edge *e, int status, uint64_t bytes)
{
    if (status >= 100 && status < 600)
        atomic_fetch_add_explicit(&e->metrics.by_status[status], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->metrics.bytes_sent, bytes, memory_order_relaxed);
}

void edge_metrics_origin(ct_edge *e, int64_t micros)
{
    size_t i = 0;
    while (i < EDGE_LAT_BUCKETS && micros > lat_bounds_us[i])
        i++;
    atomic_fetch_add_explicit(&e->metrics.lat_bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->metrics.lat_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->metrics.lat_sum_us, (uint64_t)(micros < 0 ? 0 : micros),
                              memory_order_relaxed);
}

static void render_requests(ct_edge *e, ct_buf *b)
{
    ct_buf_puts(b, "# HELP cattube_edge_requests_total Viewer requests answered, by status.\n"
                   "# TYPE cattube_edge_requests_total counter\n");
    for (int s = 100; s < 600; s++) {
        uint64_t n = atomic_load_explicit(&e->metrics.by_status[s], memory_order_relaxed);
        if (n)
            ct_buf_printf(b, "cattube_edge_requests_total{status=\"%d\"} %llu\n", s,
                          (unsigned long long)n);
    }
    ct_buf_printf(b, "# HELP cattube_edge_bytes_sent_total Response body bytes sent to viewers.\n"
                     "# TYPE cattube_edge_bytes_sent_total counter\n"
                     "cattube_edge_bytes_sent_total %llu\n",
                  (unsigned long long)atomic_load(&e->metrics.bytes_sent));
}

static void render_cache(ct_edge *e, ct_buf *b)
{
    edge_cache_stats st;
    edge_cache_get_stats(e->cache, &st);
    uint64_t sig_hits, sig_misses;
    edge_sigcache_stats(e->sigcache, &sig_hits, &sig_misses);
    uint64_t q_hits, q_misses;
    edge_signq_stats(e->signq, &q_hits, &q_misses);
    const struct {
        const char *name, *help;
        unsigned long long v;
    } c[] = {
        {"cattube_edge_cache_hits_total", "Metadata cache hits.", st.hits},
        {"cattube_edge_cache_misses_total", "Metadata cache misses (origin reads).", st.misses},
        {"cattube_edge_cache_evictions_total", "Metadata cache evictions.", st.evictions},
        {"cattube_edge_signature_cache_hits_total",
         "Signed-URL/cookie signatures found already verified.", sig_hits},
        {"cattube_edge_signature_cache_misses_total",
         "Signed-URL/cookie signatures verified with the public key.", sig_misses},
        {"cattube_edge_signed_query_cache_hits_total",
         "Signed-URL queries decided from the signed-query cache.", q_hits},
        {"cattube_edge_signed_query_cache_misses_total",
         "Signed-URL queries parsed and checked in full.", q_misses},
    };
    for (size_t i = 0; i < CT_ARRAY_LEN(c); i++)
        ct_buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", c[i].name, c[i].help,
                      c[i].name, c[i].name, c[i].v);
    ct_buf_printf(b, "# HELP cattube_edge_cache_entries Objects in the metadata cache.\n"
                     "# TYPE cattube_edge_cache_entries gauge\ncattube_edge_cache_entries %zu\n",
                  st.entries);
}

/* The disk cache of remote origins (cattube edge --origin); absent otherwise. */
static void render_disk(ct_edge *e, ct_buf *b)
{
    if (!e->disk)
        return;
    edge_disk_stats st;
    edge_disk_get_stats(e->disk, &st);
    const struct {
        const char *name, *help;
        unsigned long long v;
    } c[] = {
        {"cattube_edge_disk_hits_total", "Disk cache hits.", st.hits},
        {"cattube_edge_disk_misses_total", "Disk cache misses (origin GETs).", st.misses},
        {"cattube_edge_disk_coalesced_total", "Misses served by another request's GET.",
         st.coalesced},
        {"cattube_edge_disk_evictions_total", "Disk cache evictions.", st.evictions},
    };
    for (size_t i = 0; i < CT_ARRAY_LEN(c); i++)
        ct_buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", c[i].name, c[i].help,
                      c[i].name, c[i].name, c[i].v);
    ct_buf_printf(b, "# HELP cattube_edge_disk_bytes Bytes in the disk cache.\n"
                     "# TYPE cattube_edge_disk_bytes gauge\ncattube_edge_disk_bytes %llu\n",
                  (unsigned long long)st.bytes);
}

static void render_latency(ct_edge *e, ct_buf *b)
{
    const char *n = "cattube_edge_origin_latency_seconds";
    ct_buf_printf(b, "# HELP %s Origin (metadata) lookup latency on cache misses.\n"
                     "# TYPE %s histogram\n",
                  n, n);
    uint64_t cum = 0;
    for (size_t i = 0; i <= EDGE_LAT_BUCKETS; i++) {
        cum += atomic_load_explicit(&e->metrics.lat_bucket[i], memory_order_relaxed);
        if (i < EDGE_LAT_BUCKETS)
            ct_buf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", n, (double)lat_bounds_us[i] / 1e6,
                          (unsigned long long)cum);
        else
            ct_buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", n, (unsigned long long)cum);
    }
    ct_buf_printf(b, "%s_sum %.6f\n%s_count %llu\n", n,
                  (double)atomic_load(&e->metrics.lat_sum_us) / 1e6, n,
                  (unsigned long long)atomic_load(&e->metrics.lat_count));
}

char *edge_metrics_render(ct_edge *e, size_t *len)
{
    ct_buf b = CT_BUF_INIT;
    render_requests(e, &b);
    render_cache(e, &b);
    render_disk(e, &b);
    render_latency(e, &b);
    *len = b.len;
    return ct_buf_take(&b);
}
