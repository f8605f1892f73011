/* edge_allow.h: the allow-list of external origin hosts (`--origin-allow`).
 *
 * DESIGN: a distribution's external origin (a CustomOriginConfig, or an
 * amazonaws.com S3 bucket not on this node) makes the edge send HEAD/GET
 * requests, signed with the origin credentials when it names an OAC, to
 * whatever host it names; whoever may call CreateDistribution could aim
 * them at 169.254.169.254 or an internal service. So the host and port the
 * edge would connect to must match an entry, checked three times: when a
 * distribution is created or updated (400 InvalidOrigin), when the routing
 * table is loaded and on every viewer request (a distribution stored under
 * another list answers 502, its origin never contacted), and at connect
 * time against the resolved address (client's connect_check), so a name
 * that resolves to a loopback/link-local/private address is refused.
 *
 * Entries (comma-separated, spaces ignored), each with an optional :PORT
 * (without one, any port):
 *   host.example.com   that host name exactly (case-insensitive)
 *   *.example.com      any name under example.com (not example.com itself)
 *   *                  any host name or public IPv4 address
 *   192.0.2.10         that IPv4 address
 *   10.0.0.0/8         IPv4 addresses in the block
 * Special addresses (0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12,
 * 192.0.0/24, 192.168/16, 198.18/15, 224/3; IPv6 loopback, unspecified,
 * link-local, unique-local) are allowed only explicitly: by an address or
 * CIDR entry covering them, or as the address of a host matched by an
 * exact host-name entry (the operator named that host, e.g. an internal
 * MinIO); never by `*` or `*.example.com`. IPv6 entries are not accepted.
 *
 * Pure (no edge state): parsed once at start, read-only afterwards, so
 * threads share it without locks. Ownership: edge_allow_parse's result is
 * the caller's, freed with edge_allow_free. */
#ifndef CT_EDGE_ALLOW_H
#define CT_EDGE_ALLOW_H

#include <stddef.h>

struct sockaddr;

typedef struct edge_allow edge_allow;

/* How a host matched: none, by `*` or `*.domain`, by an exact host-name
 * entry, by an address/CIDR entry. */
enum { EDGE_ALLOW_NONE, EDGE_ALLOW_WILD, EDGE_ALLOW_NAME, EDGE_ALLOW_NET };

/* Parses list (NULL or "" = empty: every external origin refused) into
 * *out. -1 on a bad entry: *out is NULL and why (cap n) names the entry
 * and what is wrong with it. */
int edge_allow_parse(const char *list, edge_allow **out, char *why, size_t n);
/* Adds the host and port of url (an endpoint the operator named:
 * --external-s3-endpoint) as an exact entry. -1: not an http(s) URL. */
int edge_allow_add_url(edge_allow *a, const char *url);
void edge_allow_free(edge_allow *a);
/* Entries in a (0 for NULL). */
size_t edge_allow_count(const edge_allow *a);

/* How host (a name or an IPv4 literal, as in a URL) and port match a
 * (EDGE_ALLOW_*); a NULL list matches nothing. A special IPv4 literal
 * matches only an address/CIDR entry. */
int edge_allow_host(const edge_allow *a, const char *host, unsigned port);
/* The host and port of an http(s) URL (port by scheme when absent; an IPv6
 * literal without its brackets). -1: not one. */
int edge_allow_url_split(const char *url, char *host, size_t hn, unsigned *port);
/* 1 when url's host and port are allowed; else 0 with hostport (cap n)
 * "HOST:PORT" for messages. */
int edge_allow_url(const edge_allow *a, const char *url, char *hostport, size_t n);
/* The connect-time check (ct_client_connect_fn, ctx = the list): url's
 * host must match and addr (with its port) must be allowed for it (see
 * the special addresses above). */
int edge_allow_connect(void *ctx, const char *url, const struct sockaddr *addr);

#endif
