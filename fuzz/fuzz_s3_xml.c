/* libFuzzer target: ct_xml_parse, the bounded expat DOM behind
 * CompleteMultipartUpload, DeleteObjects and the bucket configuration
 * bodies. The parsed tree is walked and queried the way the handlers do. */
#include "s3/s3_internal.h"

#include <stdint.h>
#include <string.h>

static size_t walk(const ct_xml_node *n, int depth)
{
    static const char *const names[] = {"Part", "PartNumber", "ETag", "ChecksumCRC32",
                                        "ChecksumSHA256", "Object", "Key", "Quiet",
                                        "QueueConfiguration", "Filter", "Event"};
    size_t total = 0;
    for (; n; n = n->next) {
        if (depth > 64)
            __builtin_trap(); /* s3_xml caps nesting far below this */
        total += strlen(n->name) + n->text.len;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            const char *t = ct_xml_child_text(n, names[i]);
            if (t)
                total += strlen(t);
            if (ct_xml_child(n, names[i]) && !t)
                total++;
        }
        total += walk(n->first_child, depth + 1);
    }
    return total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ct_xml_node *root = NULL;
    char msg[256];
    ct_err e = ct_xml_parse((const char *)data, size, &root, msg, sizeof msg);
    if (e == CT_OK) {
        if (!root || !root->name)
            __builtin_trap();
        volatile size_t sink = walk(root, 0);
        (void)sink;
    } else if (memchr(msg, '\0', sizeof msg) == NULL) {
        __builtin_trap(); /* the message must be terminated */
    }
    ct_xml_free(root);
    return 0;
}
