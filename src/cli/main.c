/* main: dispatch to subcommands. */
#include "cli/cli.h"
#include "sandbox/sandbox.h"

#include <stdio.h>
#include <string.h>

int ct_cmd_admin(int argc, char **argv); /* cmd_admin.c */
int ct_cmd_edge(int argc, char **argv);  /* cmd_edge.c */

static void usage(FILE *f)
{
    fputs("usage: cattube <command> [options]\n"
          "commands:\n"
          "  serve          run the all-in-one server (S3, MediaConvert, admin API, workers, edge)\n"
          "  worker         run transcode workers against a serve's data directory\n"
          "  distribution   manage edge distributions (create|list|get|delete)\n"
          "  edge           run the edge alone in front of an S3 origin (--origin URL)\n"
          "  admin          manage users, roles and policies; purge expired jobs (jobs purge)\n"
          "  transcode      internal: the sandboxed transcode child\n"
          "run 'cattube <command> --help' for a command's options\n",
          f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0)
        return ct_cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "worker") == 0)
        return ct_cmd_worker(argc - 1, argv + 1);
    if (strcmp(cmd, "distribution") == 0)
        return ct_cmd_distribution(argc - 1, argv + 1);
    if (strcmp(cmd, "edge") == 0)
        return ct_cmd_edge(argc - 1, argv + 1);
    if (strcmp(cmd, "admin") == 0)
        return ct_cmd_admin(argc - 1, argv + 1);
    if (strcmp(cmd, "transcode") == 0)
        return argc > 2 && strcmp(argv[2], "--probe") == 0 ? ct_sandbox_probe_child_main()
                                                            : ct_sandbox_child_main();
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "cattube: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
