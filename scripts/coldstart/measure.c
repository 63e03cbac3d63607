/* Runs a command to its exit and reports what /usr/bin/time -v reports, with microsecond wall time:
 *   measure OUT COMMAND ARG...   writes "wall_ms peak_rss_kib minor_faults major_faults exit_code" to OUT.
 * The command is started from this small process and not from coldstart.py's Python: Linux carries the
 * peak RSS of the address space that exec() replaces into the child's ru_maxrss, so a child forked from
 * a 200 MiB parent would report at least 200 MiB. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: measure OUT COMMAND ARG...\n");
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[2], argv + 2);
        perror(argv[2]);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (pid < 0 || wait4(pid, &status, 0, &ru) != pid) {
        perror("measure");
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    FILE *out = fopen(argv[1], "w");
    if (!out) {
        perror(argv[1]);
        return 1;
    }
    fprintf(out, "%.4f %ld %ld %ld %d\n", ms, ru.ru_maxrss, ru.ru_minflt, ru.ru_majflt, code);
    fclose(out);
    return code;
}
