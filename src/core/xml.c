/* xml.c: a bounded DOM for the small XML request bodies of the S3 and
 * CloudFront APIs, on expat.
 * DOCTYPE declarations are refused outright (no entities, no XXE); depth and
 * node count are capped so a hostile body cannot exhaust memory. */
#include "core/xml.h"

#include <stdio.h>
#include <stdlib.h>

#include <expat.h>
#include <string.h>

#define XML_MAX_DEPTH 16
#define XML_MAX_NODES 20000

typedef struct {
    XML_Parser parser;
    ct_xml_node *root;
    ct_xml_node *stack[XML_MAX_DEPTH];
    int depth;
    int nodes;
    const char *error;
} xml_ctx;

static void stop(xml_ctx *c, const char *why)
{
    if (!c->error)
        c->error = why;
    XML_StopParser(c->parser, XML_FALSE);
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    xml_ctx *c = ud;
    if (c->depth >= XML_MAX_DEPTH)
        return stop(c, "XML nesting too deep");
    if (++c->nodes > XML_MAX_NODES)
        return stop(c, "XML has too many elements");
    ct_xml_node *n = calloc(1, sizeof *n);
    const char *local = strrchr(name, '\x01'); /* namespace separator */
    if (!n || !(n->name = strdup(local ? local + 1 : name))) {
        free(n);
        return stop(c, "out of memory");
    }
    n->text.max = 1 << 20;
    if (c->depth == 0) {
        if (c->root) {
            ct_xml_free(n);
            return stop(c, "more than one root element");
        }
        c->root = n;
    } else {
        ct_xml_node *parent = c->stack[c->depth - 1];
        if (parent->last_child)
            parent->last_child->next = n;
        else
            parent->first_child = n;
        parent->last_child = n;
    }
    c->stack[c->depth++] = n;
}

static void on_end(void *ud, const XML_Char *name)
{
    xml_ctx *c = ud;
    if (c->depth > 0)
        c->depth--;
}

static void on_text(void *ud, const XML_Char *s, int len)
{
    xml_ctx *c = ud;
    if (c->depth > 0 && ct_buf_append(&c->stack[c->depth - 1]->text, s, (size_t)len))
        stop(c, "XML text too long");
}

static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                       const XML_Char *pubid, int has_internal)
{
    stop(ud, "DOCTYPE is not allowed");
}

ct_err ct_xml_parse(const char *body, size_t len, ct_xml_node **root, char *msg, size_t msglen)
{
    xml_ctx c;
    memset(&c, 0, sizeof c);
    c.parser = XML_ParserCreateNS("UTF-8", '\x01');
    if (!c.parser)
        return CT_ERR_NOMEM;
    XML_SetUserData(c.parser, &c);
    XML_SetElementHandler(c.parser, on_start, on_end);
    XML_SetCharacterDataHandler(c.parser, on_text);
    XML_SetStartDoctypeDeclHandler(c.parser, on_doctype);
    enum XML_Status st = XML_Parse(c.parser, body, (int)len, XML_TRUE);
    ct_err e = CT_OK;
    if (st != XML_STATUS_OK || c.error || !c.root) {
        snprintf(msg, msglen, "The XML you provided was not well-formed or did not validate "
                              "against our published schema (%s)",
                 c.error ? c.error
                         : (st != XML_STATUS_OK ? XML_ErrorString(XML_GetErrorCode(c.parser))
                                                : "empty document"));
        ct_xml_free(c.root);
        e = CT_ERR_INVALID;
    } else {
        *root = c.root;
    }
    XML_ParserFree(c.parser);
    return e;
}

void ct_xml_free(ct_xml_node *n)
{
    while (n) {
        ct_xml_node *next = n->next;
        ct_xml_free(n->first_child);
        free(n->name);
        ct_buf_free(&n->text);
        free(n);
        n = next;
    }
}

ct_xml_node *ct_xml_child(const ct_xml_node *n, const char *name)
{
    for (ct_xml_node *c = n ? n->first_child : NULL; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

const char *ct_xml_child_text(const ct_xml_node *n, const char *name)
{
    ct_xml_node *c = ct_xml_child(n, name);
    if (!c)
        return NULL;
    return c->text.data ? c->text.data : "";
}
