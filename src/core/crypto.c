/* Hashes, HMAC and randomness on OpenSSL. */
#include "core/core.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* SHA-256 fetched from the provider once: EVP_sha256() makes every digest
 * (and HMAC() every MAC) look the algorithm up again, which was a third of
 * the SigV4 check of a small GET. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

/* One digest context per thread, reused: EVP_MD_CTX_new + free per hash
 * was ~4 % of a small GET. Freed when the thread ends (libmicrohttpd runs a
 * thread per connection). */
static pthread_key_t ctx_key;

static void ctx_free(void *c) { EVP_MD_CTX_free(c); }

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (pthread_key_create(&ctx_key, ctx_free))
        abort();
}

static EVP_MD_CTX *thread_ctx(void)
{
    EVP_MD_CTX *c = pthread_getspecific(ctx_key);
    if (!c && (!(c = EVP_MD_CTX_new()) || pthread_setspecific(ctx_key, c)))
        abort(); /* as RAND_bytes: no silent wrong signatures */
    return c;
}

static const EVP_MD *sha256(void)
{
    pthread_once(&sha256_once, sha256_fetch);
    return sha256_md ? sha256_md : EVP_sha256();
}

void ct_sha256(const void *p, size_t n, unsigned char out[32])
{
    const EVP_MD *md = sha256(); /* first: creates ctx_key */
    EVP_MD_CTX *c = thread_ctx();
    EVP_DigestInit_ex(c, md, NULL);
    EVP_DigestUpdate(c, p, n);
    EVP_DigestFinal_ex(c, out, NULL);
}

void ct_sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char d[32];
    ct_sha256(p, n, d);
    ct_hex(d, 32, out);
}

/* RFC 2104 on the fetched digest (HMAC() goes through EVP_Q_mac, which
 * fetches the MAC and the digest on every call). */
void ct_hmac_sha256(const void *key, size_t klen, const void *p, size_t n, unsigned char out[32])
{
    unsigned char k[64] = {0}, pad[64], inner[32];
    if (klen > sizeof k)
        ct_sha256(key, klen, k);
    else if (klen)
        memcpy(k, key, klen);
    const EVP_MD *md = sha256(); /* first: creates ctx_key */
    EVP_MD_CTX *c = thread_ctx();
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = (unsigned char)(k[i] ^ 0x36);
    EVP_DigestInit_ex(c, md, NULL);
    EVP_DigestUpdate(c, pad, sizeof pad);
    EVP_DigestUpdate(c, p, n);
    EVP_DigestFinal_ex(c, inner, NULL);
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = (unsigned char)(k[i] ^ 0x5c);
    EVP_DigestInit_ex(c, md, NULL);
    EVP_DigestUpdate(c, pad, sizeof pad);
    EVP_DigestUpdate(c, inner, sizeof inner);
    EVP_DigestFinal_ex(c, out, NULL);
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(inner, sizeof inner);
}

static EVP_MD *md5_md;
static pthread_once_t md5_once = PTHREAD_ONCE_INIT;

static void md5_fetch(void) { md5_md = EVP_MD_fetch(NULL, "MD5", NULL); }

const EVP_MD *ct_md5_md(void)
{
    pthread_once(&md5_once, md5_fetch);
    return md5_md ? md5_md : EVP_md5();
}

void ct_md5(const void *p, size_t n, unsigned char out[16])
{
    unsigned int len = 16;
    EVP_Digest(p, n, out, &len, ct_md5_md(), NULL);
}

int ct_consttime_cmp(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    size_t n = la < lb ? la : lb;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff != 0;
}

static void random_bytes(unsigned char *p, size_t n)
{
    if (RAND_bytes(p, (int)n) != 1)
        abort(); /* no entropy: refusing to mint predictable ids or keys */
}

void ct_random_hex(char *out, size_t n)
{
    unsigned char raw[128];
    size_t bytes = n / 2;
    if (bytes > sizeof raw)
        bytes = sizeof raw;
    random_bytes(raw, bytes);
    ct_hex(raw, bytes, out);
}

void ct_random_alnum(char *out, size_t n, int upper_only)
{
    static const char upper[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    static const char any[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const char *set = upper_only ? upper : any;
    size_t setlen = upper_only ? sizeof upper - 1 : sizeof any - 1;
    unsigned char buf[64];
    size_t have = 0, used = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c;
        do {
            if (used == have) { /* one RAND_bytes per 64 bytes: it was 27% of a 4 KiB edge GET */
                random_bytes(buf, sizeof buf);
                have = sizeof buf;
                used = 0;
            }
            c = buf[used++];
        } while (c >= 256 - (256 % setlen)); /* no modulo bias */
        out[i] = set[c % setlen];
    }
    explicit_bzero(buf, sizeof buf);
    out[n] = '\0';
}

/* AES-256-GCM with a random 96-bit nonce: used to keep secrets that must be
 * recoverable (SigV4 needs a user's secret itself) unreadable at rest. */
ct_err ct_aead_seal(const unsigned char key[32], const void *aad, size_t aadlen, const void *in,
                    size_t n, unsigned char *out, size_t outcap, size_t *outlen)
{
    if (outcap < n + CT_AEAD_OVERHEAD || n > INT32_MAX || aadlen > INT32_MAX)
        return CT_ERR_TOO_LARGE;
    ct_err e = CT_ERR_INTERNAL;
    int len = 0, fin = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c)
        return CT_ERR_NOMEM;
    random_bytes(out, 12);
    if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, out) != 1 ||
        EVP_EncryptUpdate(c, NULL, &len, aad, (int)aadlen) != 1 ||
        EVP_EncryptUpdate(c, out + 12, &len, in, (int)n) != 1 ||
        EVP_EncryptFinal_ex(c, out + 12 + len, &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, out + 12 + len + fin) != 1)
        goto cleanup;
    *outlen = 12 + (size_t)len + (size_t)fin + 16;
    e = CT_OK;
cleanup:
    EVP_CIPHER_CTX_free(c);
    return e;
}

ct_err ct_aead_open(const unsigned char key[32], const void *aad, size_t aadlen,
                    const unsigned char *in, size_t n, unsigned char *out, size_t outcap,
                    size_t *outlen)
{
    if (n < CT_AEAD_OVERHEAD || n > INT32_MAX || aadlen > INT32_MAX)
        return CT_ERR_DIGEST;
    size_t clen = n - CT_AEAD_OVERHEAD;
    if (outcap < clen)
        return CT_ERR_TOO_LARGE;
    ct_err e = CT_ERR_DIGEST;
    int len = 0, fin = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c)
        return CT_ERR_NOMEM;
    if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, in) != 1 ||
        EVP_DecryptUpdate(c, NULL, &len, aad, (int)aadlen) != 1 ||
        EVP_DecryptUpdate(c, out, &len, in + 12, (int)clen) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, (void *)(in + 12 + clen)) != 1 ||
        EVP_DecryptFinal_ex(c, out + len, &fin) != 1) {
        explicit_bzero(out, clen);
        goto cleanup;
    }
    *outlen = (size_t)len + (size_t)fin;
    e = CT_OK;
cleanup:
    EVP_CIPHER_CTX_free(c);
    return e;
}

ct_err ct_seal_text(const unsigned char key[32], const char *aad, const char *text, char *out,
                    size_t outcap)
{
    size_t n = strlen(text), len = 0;
    if (outcap < CT_SEALED_LEN(n))
        return CT_ERR_TOO_LARGE;
    unsigned char *raw = malloc(n + CT_AEAD_OVERHEAD);
    if (!raw)
        return CT_ERR_NOMEM;
    ct_err e = ct_aead_seal(key, aad, strlen(aad), text, n, raw, n + CT_AEAD_OVERHEAD, &len);
    if (!e) {
        /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): prefix; ct_hex ends it */
        memcpy(out, CT_SEALED_PREFIX, 4);
        ct_hex(raw, len, out + 4);
    }
    free(raw);
    return e;
}

int ct_is_sealed(const char *stored) { return strncmp(stored, CT_SEALED_PREFIX, 4) == 0; }

ct_err ct_unseal_text(const unsigned char key[32], const char *aad, const char *sealed, char *out,
                      size_t outcap)
{
    size_t hexlen = ct_is_sealed(sealed) ? strlen(sealed + 4) : 0, len = 0;
    if (hexlen < 2 * CT_AEAD_OVERHEAD || hexlen % 2 || outcap == 0)
        return CT_ERR_INVALID;
    unsigned char *raw = malloc(hexlen / 2), *plain = malloc(hexlen / 2);
    ct_err e = raw && plain ? CT_OK : CT_ERR_NOMEM;
    if (!e && ct_unhex(sealed + 4, hexlen, raw) < 0)
        e = CT_ERR_INVALID;
    if (!e)
        e = ct_aead_open(key, aad, strlen(aad), raw, hexlen / 2, plain, hexlen / 2, &len);
    if (!e && len >= outcap)
        e = CT_ERR_TOO_LARGE;
    if (!e) {
        memcpy(out, plain, len);
        out[len] = '\0';
    }
    if (plain)
        explicit_bzero(plain, hexlen / 2);
    free(raw);
    free(plain);
    return e;
}
