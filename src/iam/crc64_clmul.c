/* crc64_clmul.c: CRC-64/NVME folding with carry-less multiplication.
 *
 * DESIGN: S3 gives every object without a declared checksum a CRC64NVME,
 * so it runs over every uploaded byte; the slice-by-8 tables in chunked.c
 * manage ~1.5 GB/s, PCLMULQDQ folding several times that. Only the folding
 * is done here: 16-byte blocks are folded into one 16-byte remainder with
 * the same CRC, which the table code then finishes (no Barrett reduction
 * to get wrong). Reflected CRC: a little-endian 64-bit word's bit j is the
 * coefficient of x^(63-j); the clmul of two such words lands one bit short
 * of the 128-bit block's mapping, hence x^(8d+63) and x^(8d-1) (not
 * 8d+64 / 8d) for moving the low and high halves d bytes further from the
 * end. */
#include "iam/iam_crc.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define POLY_NORMAL 0xAD93D23594C93659ull

static uint64_t xpow_mod(int n)
{
    uint64_t r = 1; /* x^0 */
    for (int i = 0; i < n; i++)
        r = (r << 1) ^ (POLY_NORMAL & (0ull - (r >> 63)));
    return r;
}

static uint64_t reflect64(uint64_t v)
{
    uint64_t r = 0;
    for (int i = 0; i < 64; i++, v >>= 1)
        r = (r << 1) | (v & 1);
    return r;
}

/* Constants moving a 16-byte block d bytes further from the end. */
typedef struct {
    uint64_t lo, hi;
} fold_k;

static fold_k fold_consts(int d)
{
    return (fold_k){reflect64(xpow_mod(8 * d + 63)), reflect64(xpow_mod(8 * d - 1))};
}

static fold_k k16, k32, k48, k64;

static int have_clmul;

static void consts_init(void)
{
    have_clmul = __builtin_cpu_supports("pclmul");
    k16 = fold_consts(16);
    k32 = fold_consts(32);
    k48 = fold_consts(48);
    k64 = fold_consts(64);
}

__attribute__((target("pclmul,sse2"))) static __m128i fold_by(__m128i x, fold_k k)
{
    const __m128i kk = _mm_set_epi64x((long long)k.hi, (long long)k.lo);
    return _mm_xor_si128(_mm_clmulepi64_si128(x, kk, 0x00), _mm_clmulepi64_si128(x, kk, 0x11));
}

/* Four independent lanes 64 bytes apart hide the multiply latency; they
 * are folded into one at the end. blocks4: number of 64-byte blocks. */
__attribute__((target("pclmul,sse2"))) static void fold(const unsigned char *s, size_t blocks4,
                                                        uint64_t crc, unsigned char out[16])
{
    const __m128i *p = (const __m128i *)s;
    __m128i x0 = _mm_xor_si128(_mm_loadu_si128(p), _mm_set_epi64x(0, (long long)crc));
    __m128i x1 = _mm_loadu_si128(p + 1), x2 = _mm_loadu_si128(p + 2);
    __m128i x3 = _mm_loadu_si128(p + 3);
    for (size_t i = 1; i < blocks4; i++) {
        p += 4;
        x0 = _mm_xor_si128(fold_by(x0, k64), _mm_loadu_si128(p));
        x1 = _mm_xor_si128(fold_by(x1, k64), _mm_loadu_si128(p + 1));
        x2 = _mm_xor_si128(fold_by(x2, k64), _mm_loadu_si128(p + 2));
        x3 = _mm_xor_si128(fold_by(x3, k64), _mm_loadu_si128(p + 3));
    }
    __m128i x = _mm_xor_si128(_mm_xor_si128(fold_by(x0, k48), fold_by(x1, k32)),
                              _mm_xor_si128(fold_by(x2, k16), x3));
    _mm_storeu_si128((__m128i *)out, x);
}

size_t iam_crc64nvme_fold(uint64_t crc, const unsigned char *s, size_t n, unsigned char out[16])
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    if (n < 256)
        return 0;
    pthread_once(&once, consts_init);
    if (!have_clmul)
        return 0;
    size_t blocks4 = n / 64;
    fold(s, blocks4, crc, out);
    return blocks4 * 64;
}

#else

size_t iam_crc64nvme_fold(uint64_t crc, const unsigned char *s, size_t n, unsigned char out[16])
{
    (void)crc, (void)s, (void)n, (void)out;
    return 0;
}

#endif
