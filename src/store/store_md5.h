/* store_md5.h: a blob's MD5 (its S3 ETag), for large blobs on a second
 * thread. Internal to the store. */
#ifndef CT_STORE_MD5_H
#define CT_STORE_MD5_H

#include <stddef.h>

typedef struct store_md5 store_md5;

store_md5 *store_md5_new(void);
/* Copies what it cannot hash at once: p may be reused on return. */
void store_md5_update(store_md5 *h, const void *p, size_t n);
void store_md5_final(store_md5 *h, unsigned char out[16]);
void store_md5_free(store_md5 *h);

#endif
