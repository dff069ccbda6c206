/*
 * run.h — `vmig run` (cli/run.c): start a program inside a GPU instance.
 */
#ifndef VMIG_CLI_RUN_H
#define VMIG_CLI_RUN_H

/*
 * `vmig run [--backend NAME] -d DEVICE [--] PROGRAM [ARGS...]` as a whole
 * command: argv[0] is the verb ("run"), the options follow.  Returns an
 * exit status only when the program could not be started; otherwise it
 * does not return (the program replaces vmig).
 */
int vmig__cli_run(int argc, char **argv);

#endif
