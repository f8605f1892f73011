/* store_md5.c: MD5 off the upload's thread.
 *
 * DESIGN: MD5 is inherently serial (~700 MB/s per core) and was half the
 * CPU of a large PUT, done on the connection thread between receiving and
 * writing. Once a blob passes INLINE_MAX bytes, and while fewer than
 * (cores - 1) such hashers run in the process, the bytes are copied into a
 * ring that a hasher thread consumes, so receiving + CRC + write(2) overlap
 * with MD5. A copy costs far less than the hash; when the cores are all
 * busy anyway (many concurrent uploads) the slots are taken and the rest
 * hash inline, paying no copy. INLINE_MAX is 256 KiB: at 1 MiB, a 1 MiB
 * object (the common segment size) was hashed wholly inline, and one
 * client's 1 MiB PUTs ran 10-13 % slower than with the threshold at 256 KiB
 * (the thread and the copy cost ~5-10 % more CPU per object; many
 * concurrent uploads are unchanged, as the slots are taken). */
#include "store/store_md5.h"

#include "core/core.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INLINE_MAX (256u << 10)
#define RING (8u << 20)

struct store_md5 {
    EVP_MD_CTX *ctx;
    uint64_t seen;
    int threaded;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned char *ring;
    uint64_t head, tail; /* bytes copied in / hashed, in total */
    int closing;
};

static atomic_int slots_used;
static int slots_max;
static pthread_once_t slots_once = PTHREAD_ONCE_INIT;

static void slots_init(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    slots_max = n > 1 ? (int)n - 1 : 0;
}

static int slot_take(void)
{
    pthread_once(&slots_once, slots_init);
    if (atomic_fetch_add(&slots_used, 1) < slots_max)
        return 1;
    atomic_fetch_sub(&slots_used, 1);
    return 0;
}

static void *hasher(void *arg)
{
    store_md5 *h = arg;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (h->head == h->tail && !h->closing)
            pthread_cond_wait(&h->cv, &h->mu);
        if (h->head == h->tail)
            break;
        size_t off = (size_t)(h->tail % RING);
        size_t n = (size_t)(h->head - h->tail);
        if (n > RING - off)
            n = RING - off;
        pthread_mutex_unlock(&h->mu);
        EVP_DigestUpdate(h->ctx, h->ring + off, n);
        pthread_mutex_lock(&h->mu);
        h->tail += n;
        pthread_cond_broadcast(&h->cv);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

store_md5 *store_md5_new(void)
{
    store_md5 *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || !EVP_DigestInit_ex(h->ctx, ct_md5_md(), NULL)) {
        EVP_MD_CTX_free(h->ctx);
        free(h);
        return NULL;
    }
    return h;
}

static void start_thread(store_md5 *h)
{
    if (!slot_take())
        return;
    h->ring = malloc(RING);
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    if (h->ring && pthread_create(&h->th, NULL, hasher, h) == 0) {
        h->threaded = 1;
        return;
    }
    free(h->ring);
    h->ring = NULL;
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    atomic_fetch_sub(&slots_used, 1);
}

static void ring_put(store_md5 *h, const unsigned char *p, size_t n)
{
    pthread_mutex_lock(&h->mu);
    while (n) {
        while (h->head - h->tail == RING)
            pthread_cond_wait(&h->cv, &h->mu);
        size_t off = (size_t)(h->head % RING);
        size_t k = RING - (size_t)(h->head - h->tail);
        if (k > RING - off)
            k = RING - off;
        if (k > n)
            k = n;
        pthread_mutex_unlock(&h->mu); /* the hasher never reads past head */
        memcpy(h->ring + off, p, k);
        pthread_mutex_lock(&h->mu);
        h->head += k;
        p += k;
        n -= k;
        pthread_cond_broadcast(&h->cv);
    }
    pthread_mutex_unlock(&h->mu);
}

void store_md5_update(store_md5 *h, const void *p, size_t n)
{
    h->seen += n;
    if (!h->threaded && !h->ring && h->seen > INLINE_MAX)
        start_thread(h);
    if (h->threaded)
        ring_put(h, p, n);
    else
        EVP_DigestUpdate(h->ctx, p, n);
}

static void stop_thread(store_md5 *h)
{
    if (!h->threaded)
        return;
    pthread_mutex_lock(&h->mu);
    h->closing = 1;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->th, NULL);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h->ring);
    h->ring = NULL;
    h->threaded = 0;
    atomic_fetch_sub(&slots_used, 1);
}

void store_md5_final(store_md5 *h, unsigned char out[16])
{
    unsigned int len = 16;
    stop_thread(h); /* hashes what is still in the ring first */
    EVP_DigestFinal_ex(h->ctx, out, &len);
}

void store_md5_free(store_md5 *h)
{
    if (!h)
        return;
    stop_thread(h);
    EVP_MD_CTX_free(h->ctx);
    free(h);
}
