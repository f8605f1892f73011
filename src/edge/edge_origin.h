/* edge_origin.h: the edge's origin seam (edge_origin.c).
 *
 * Two calls, two kinds of origin:
 *   - local (cattube serve): meta + store in process; the bucket policy is
 *     evaluated here for the distribution's reader (its origin access
 *     control's service principal, or anonymous); the bytes are blob fds.
 *   - remote (cattube edge --origin URL): an S3-compatible endpoint read
 *     through the outbound client (client/client.h): a SigV4-signed HEAD for
 *     the row, a signed GET into the disk cache (edge_disk.c) for the bytes.
 * Ownership: *out rows are the caller's (ct_meta_object_free); fds too. */
#ifndef CT_EDGE_ORIGIN_H
#define CT_EDGE_ORIGIN_H

#include "edge/edge_internal.h" /* edge_dist, ct_edge (it includes this file last) */

/* The origin row of key behind d, read as CloudFront would: with d's origin
 * access control as cloudfront.amazonaws.com (aws:SourceArn = d's ARN), else
 * anonymously, under the bucket's policy. CT_ERR_DENIED when the policy does
 * not allow it (also for a missing key without s3:ListBucket),
 * CT_ERR_NOT_FOUND, or a storage error. */
ct_err edge_origin_head(ct_edge *e, const edge_dist *d, const char *key, ct_meta_object *out);
/* The bytes of o (from edge_origin_head) as an open fd: the local blob, or
 * for a remote origin the disk cache (filled by a signed GET). *size is the
 * file's size; *hit tells a disk-cache hit (always 1 for local blobs). */
ct_err edge_origin_open(ct_edge *e, const edge_dist *d, const ct_meta_object *o, int *fd,
                        uint64_t *size, int *hit);

#endif
