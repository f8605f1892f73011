/* xml: a bounded DOM for small XML request bodies (S3, CloudFront), on
 * expat. DOCTYPE declarations are refused (no entities, no XXE); depth
 * (16), element count (20000) and text per element (1 MiB) are capped.
 * Ownership: ct_xml_parse returns a tree the caller frees with ct_xml_free;
 * returned child pointers and texts are borrowed from it. */
#ifndef CT_XML_H
#define CT_XML_H

#include "core/core.h"

typedef struct ct_xml_node ct_xml_node;
struct ct_xml_node {
    char *name;           /* local name (namespace prefix stripped) */
    ct_buf text;
    ct_xml_node *first_child, *last_child, *next;
};
/* CT_ERR_INVALID with msg on malformed or hostile XML. */
ct_err ct_xml_parse(const char *body, size_t len, ct_xml_node **root, char *msg, size_t msglen);
void ct_xml_free(ct_xml_node *n);
/* First child named name, or NULL. */
ct_xml_node *ct_xml_child(const ct_xml_node *n, const char *name);
/* Text of the first child named name ("" when empty), or NULL if absent. */
const char *ct_xml_child_text(const ct_xml_node *n, const char *name);

#endif
