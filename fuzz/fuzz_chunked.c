/* libFuzzer target: aws-chunked decoding. Byte 0 picks the mode and how the
 * input is split, byte 1 the declared trailer; the rest is the body. */
#include "iam/iam.h"

#include <stdint.h>
#include <string.h>

static ct_err null_sink(void *ctx, const void *p, size_t n)
{
    size_t *total = ctx;
    *total += n;
    (void)p;
    return CT_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const trailers[] = {NULL,
                                           "x-amz-checksum-crc32",
                                           "x-amz-checksum-crc32c",
                                           "x-amz-checksum-crc64nvme",
                                           "x-amz-checksum-sha1",
                                           "x-amz-checksum-sha256",
                                           "x-amz-checksum-crc32, x-amz-checksum-sha1",
                                           "bogus"};
    static const ct_chunked_mode modes[] = {CT_CHUNKED_UNSIGNED_TRAILER, CT_CHUNKED_SIGNED,
                                            CT_CHUNKED_SIGNED_TRAILER, CT_CHUNKED_UNSIGNED_TRAILER};
    if (size < 2)
        return 0;
    unsigned char key[32];
    ct_sigv4_signing_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524", "us-east-1", "s3",
                         key);
    ct_chunked *c = ct_chunked_new(modes[data[0] & 3], key,
                                   "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
                                   "20130524T000000Z", "20130524/us-east-1/s3/aws4_request",
                                   trailers[data[1] & 7]);
    if (!c)
        return 0;
    size_t step = (data[0] >> 2) ? (size_t)(data[0] >> 2) : size, total = 0;
    const char *p = (const char *)data + 2;
    size_t n = size - 2;
    for (size_t i = 0; i < n; i += step) {
        size_t take = n - i < step ? n - i : step;
        if (ct_chunked_feed(c, p + i, take, null_sink, &total) != CT_OK)
            break;
    }
    char msg[256];
    ct_chunked_finish(c, msg, sizeof msg);
    if (ct_chunked_decoded(c) != total)
        __builtin_trap();
    ct_chunked_free(c);
    return 0;
}
