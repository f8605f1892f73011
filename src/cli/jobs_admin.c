/* jobs_admin.c: `cattube admin jobs purge`, job retention by hand.
 *
 * Unlike the other admin commands this one talks to the database directly
 * (DIR/meta.db or --db postgres://...), like `cattube worker`: an operator
 * can clear expired jobs with the server stopped, or from a cron job on any
 * host that reaches the database. It runs the same purge as serve's
 * housekeeping (ct_meta_job_purge), so it is safe next to running servers. */
#include "cli/cli.h"
#include "meta/meta.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fputs("usage: cattube admin jobs purge --older-than-days N [--data DIR | --db URL]\n"
          "  deletes jobs that finished (COMPLETE, ERROR, CANCELED) more than N days ago\n"
          "  (N >= 1), with their events; SUBMITTED and PROGRESSING jobs and jobs whose\n"
          "  events are not yet delivered stay. Prints {\"deleted\": count}.\n"
          "  --data DIR      the data directory of a 'cattube serve' (default ./cattube-data)\n"
          "  --db URL        the servers' shared database (postgres://...) instead\n"
          "  --batch N       jobs per transaction (default 500)\n",
          f);
}

typedef struct {
    const char *data_dir, *db;
    long days, batch;
} purge_opts;

static int parse_opts(int argc, char **argv, purge_opts *o)
{
    static const struct option longopts[] = {
        {"older-than-days", required_argument, NULL, 'o'}, {"data", required_argument, NULL, 'd'},
        {"db", required_argument, NULL, 'D'},              {"batch", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},                  {NULL, 0, NULL, 0},
    };
    *o = (purge_opts){.data_dir = "./cattube-data", .days = -1, .batch = CT_META_JOB_PURGE_BATCH};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': o->days = ct_cli_whole(optarg, 1, 100000); break;
        case 'd': o->data_dir = optarg; break;
        case 'D': o->db = optarg; break;
        case 'b': o->batch = ct_cli_whole(optarg, 1, 100000); break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc || o->days < 1 || o->days > 100000 || o->batch < 1 || o->batch > 100000) {
        fputs("cattube: admin jobs purge needs --older-than-days N (1..100000); "
              "--batch is 1..100000\n", stderr);
        return -1;
    }
    return 0;
}

int ct_cmd_admin_jobs(int argc, char **argv)
{
    purge_opts o;
    if (argc < 2 || strcmp(argv[1], "purge") != 0) {
        usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    if (parse_opts(argc - 1, argv + 1, &o))
        return 2;
    char path[2048];
    if (ct_snprintf(path, sizeof path, "%s/meta.db", o.data_dir))
        return 2;
    const char *target = o.db ? o.db : path;
    if (strncmp(target, "postgres", 8) != 0 && access(target, R_OK | W_OK) != 0) {
        /* a SQLite path: never create an empty database */
        fprintf(stderr, "cattube: no database at %s (give --data DIR or --db URL)\n", target);
        return 1;
    }
    ct_meta *m = NULL;
    ct_err e = ct_meta_open(target, &m);
    if (e) {
        fprintf(stderr, "cattube: cannot open the database %s: %s\n", target, ct_err_str(e));
        return 1;
    }
    int n = 0;
    e = ct_meta_job_purge(m, o.days * 86400000LL, (int)o.batch, 0, &n);
    ct_meta_close(m);
    printf("{\n  \"deleted\": %d\n}\n", n);
    if (e) {
        fprintf(stderr, "cattube: purge stopped: %s\n", ct_err_str(e));
        return 1;
    }
    return 0;
}
