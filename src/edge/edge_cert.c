/* edge_cert.c: the HTTPS listener's certificate.
 *
 * Given files win. Otherwise a self-signed EC P-256 leaf (CA:FALSE,
 * serverAuth, SAN localhost, *.localhost, *.cattube.localhost, 127.0.0.1, ::1
 * and public_host, *.public_host) is generated once and kept as DIR/edge/cert.pem and
 * DIR/edge/key.pem (0600, directory 0700). It is regenerated only when
 * unreadable, expired, or not covering public_host. */
#include "edge/edge_internal.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define CERT_MAX_BYTES (1 << 20)
/* OpenSSL (curl, Python) and Chromium refuse a wildcard with a single label
 * after it, so "*.localhost" never matches "<id>.localhost" for a verifying
 * client; "*.cattube.localhost" does, and *.localhost names resolve to
 * loopback without DNS. Routing uses only the first label, so
 * https://<id>.cattube.localhost:PORT/ verifies against cert.pem. */
#define CERT_BASE_SAN "DNS:localhost,DNS:*.localhost,DNS:*." EDGE_VERIFIABLE_SUFFIX ",IP:127.0.0.1,IP:::1"
#define CERT_DAYS 825

static int is_ip_literal(const char *h)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

static void log_ssl_error(const char *what)
{
    unsigned long e = ERR_get_error();
    char msg[256] = "";
    if (e)
        ERR_error_string_n(e, msg, sizeof msg);
    ct_error("edge: %s failed: %s", what, msg);
    ERR_clear_error();
}

/* 1 when the PEM certificate parses, belongs to the key, is not expired
 * and covers host. */
static int cert_usable(const char *pem, const char *key_pem, const char *host)
{
    BIO *bio = BIO_new_mem_buf(pem, -1), *kbio = BIO_new_mem_buf(key_pem, -1);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    EVP_PKEY *k = kbio ? PEM_read_bio_PrivateKey(kbio, NULL, NULL, NULL) : NULL;
    int ok = 0;
    if (x && k && X509_check_private_key(x, k) == 1) {
        ok = X509_cmp_current_time(X509_get0_notAfter(x)) > 0 &&
             X509_check_host(x, "e." EDGE_VERIFIABLE_SUFFIX, 0, 0, NULL) == 1;
        if (ok && host && *host)
            ok = is_ip_literal(host) ? X509_check_ip_asc(x, host, 0) == 1
                                     : X509_check_host(x, host, 0, 0, NULL) == 1;
    }
    X509_free(x);
    EVP_PKEY_free(k);
    BIO_free(bio);
    BIO_free(kbio);
    ERR_clear_error();
    return ok;
}

static char *bio_to_string(BIO *bio)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    if (n <= 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s) {
        memcpy(s, data, (size_t)n);
        s[n] = '\0';
    }
    return s;
}

static int add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return -1;
    int rc = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return rc == 1 ? 0 : -1;
}

static ct_err generate(const char *public_host, char **cert_pem, char **key_pem)
{
    ct_err err = CT_ERR_INTERNAL;
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
    ASN1_INTEGER *serial = NULL;
    BIGNUM *bn = NULL;
    if (!pkey || !x || !cb || !kb) {
        log_ssl_error("certificate key generation");
        goto done;
    }
    const char *cn = public_host && *public_host ? public_host : "localhost";
    char san[1024];
    if (public_host && *public_host) {
        if (is_ip_literal(public_host))
            err = ct_snprintf(san, sizeof san, CERT_BASE_SAN ",IP:%s", public_host);
        else
            err = ct_snprintf(san, sizeof san, CERT_BASE_SAN ",DNS:%s,DNS:*.%s", public_host,
                              public_host);
        if (err)
            goto done;
        err = CT_ERR_INTERNAL;
    } else {
        strcpy(san, CERT_BASE_SAN);
    }

    unsigned char rnd[16];
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        goto done;
    rnd[0] &= 0x7f; /* positive serial */
    bn = BN_bin2bn(rnd, sizeof rnd, NULL);
    serial = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    X509_NAME *name = X509_get_subject_name(x);
    if (!serial || X509_set_version(x, 2) != 1 || X509_set_serialNumber(x, serial) != 1 ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_time_adj_ex(X509_getm_notAfter(x), CERT_DAYS, 0, NULL) ||
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"CatTube",
                                   -1, -1, 0) != 1 ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                   0) != 1 ||
        X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, pkey) != 1 ||
        add_ext(x, NID_basic_constraints, "critical,CA:FALSE") ||
        add_ext(x, NID_key_usage, "critical,digitalSignature") ||
        add_ext(x, NID_ext_key_usage, "serverAuth") ||
        add_ext(x, NID_subject_key_identifier, "hash") ||
        add_ext(x, NID_subject_alt_name, san) || X509_sign(x, pkey, EVP_sha256()) <= 0) {
        log_ssl_error("certificate generation");
        goto done;
    }
    if (PEM_write_bio_X509(cb, x) != 1 ||
        PEM_write_bio_PrivateKey(kb, pkey, NULL, NULL, 0, NULL, NULL) != 1) {
        log_ssl_error("certificate PEM encoding");
        goto done;
    }
    *cert_pem = bio_to_string(cb);
    *key_pem = bio_to_string(kb);
    if (!*cert_pem || !*key_pem) {
        free(*cert_pem);
        free(*key_pem);
        *cert_pem = *key_pem = NULL;
        err = CT_ERR_NOMEM;
        goto done;
    }
    err = CT_OK;
done:
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    BIO_free(cb);
    BIO_free(kb);
    X509_free(x);
    EVP_PKEY_free(pkey);
    return err;
}

ct_err edge_cert_load_or_create(const ct_edge_config *cfg, char **cert_pem, char **key_pem,
                                int *generated)
{
    *cert_pem = *key_pem = NULL;
    *generated = 0;
    size_t n;
    ct_err err;
    int have_cert = cfg->cert_file && *cfg->cert_file, have_key = cfg->key_file && *cfg->key_file;
    if (have_cert || have_key) {
        if (!have_cert || !have_key) {
            ct_error("edge: a certificate file needs its key file and vice versa");
            return CT_ERR_INVALID;
        }
        if ((err = ct_read_file(cfg->cert_file, CERT_MAX_BYTES, cert_pem, &n)) ||
            (err = ct_read_file(cfg->key_file, CERT_MAX_BYTES, key_pem, &n))) {
            ct_error("edge: cannot read certificate %s / key %s: %s", cfg->cert_file,
                     cfg->key_file, ct_err_str(err));
            free(*cert_pem);
            *cert_pem = NULL;
            return err;
        }
        return CT_OK;
    }
    if (!cfg->data_dir || !*cfg->data_dir) {
        ct_error("edge: no data dir to keep the generated certificate in");
        return CT_ERR_INVALID;
    }
    char dir[4096], cpath[4200], kpath[4200], lpath[4200];
    if ((err = ct_snprintf(dir, sizeof dir, "%s/edge", cfg->data_dir)) ||
        (err = ct_snprintf(cpath, sizeof cpath, "%s/cert.pem", dir)) ||
        (err = ct_snprintf(kpath, sizeof kpath, "%s/key.pem", dir)) ||
        (err = ct_snprintf(lpath, sizeof lpath, "%s/.lock", dir)))
        return err;
    if ((err = ct_mkdirs(dir, 0700)))
        return err;
    /* Two processes starting on one DIR must not pair one's key with the
     * other's certificate. */
    int lock = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0 || flock(lock, LOCK_EX) != 0) {
        ct_error("edge: cannot lock %s", lpath);
        if (lock >= 0)
            close(lock);
        return CT_ERR_IO;
    }
    if (ct_read_file(cpath, CERT_MAX_BYTES, cert_pem, &n) == CT_OK &&
        ct_read_file(kpath, CERT_MAX_BYTES, key_pem, &n) == CT_OK &&
        cert_usable(*cert_pem, *key_pem, cfg->public_host)) {
        close(lock);
        return CT_OK;
    }
    free(*cert_pem);
    free(*key_pem);
    *cert_pem = *key_pem = NULL;

    if ((err = generate(cfg->public_host, cert_pem, key_pem))) {
        close(lock);
        return err;
    }
    /* Key first: a cert without its key is useless, the reverse is regenerated. */
    if ((err = ct_write_file_atomic(kpath, *key_pem, strlen(*key_pem), 0600)) ||
        (err = ct_write_file_atomic(cpath, *cert_pem, strlen(*cert_pem), 0644))) {
        ct_error("edge: cannot write %s: %s", dir, ct_err_str(err));
        free(*cert_pem);
        free(*key_pem);
        *cert_pem = *key_pem = NULL;
        close(lock);
        return err;
    }
    chmod(kpath, 0600); /* in case the umask/atomic writer widened it */
    close(lock);
    *generated = 1;
    ct_info("edge: generated self-signed certificate %s", cpath);
    return CT_OK;
}
