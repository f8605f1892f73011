/* iam_crc.h: hardware CRC folding behind chunked.c's table code (internal). */
#ifndef CT_IAM_CRC_H
#define CT_IAM_CRC_H

#include <stddef.h>
#include <stdint.h>

/* Folds a prefix of s (CRC-64/NVME register crc on entry) into 16 bytes
 * whose CRC from a zero register equals the register after that prefix.
 * Returns the prefix length (a multiple of 16), or 0 when the CPU lacks
 * carry-less multiply or n is too short to be worth it. */
size_t iam_crc64nvme_fold(uint64_t crc, const unsigned char *s, size_t n, unsigned char out[16]);

#endif
