/* cli: subcommands of the one cattube binary. Each returns a process exit code. */
#ifndef CT_CLI_H
#define CT_CLI_H

int ct_cmd_serve(int argc, char **argv);
int ct_cmd_distribution(int argc, char **argv);

#endif
