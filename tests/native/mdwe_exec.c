/*
 * mdwe_exec PROGRAM [ARGS...]: runs PROGRAM with memory-deny-write-execute on, as systemd's
 * MemoryDenyWriteExecute=yes does on Linux 6.3+ (prctl PR_SET_MDWE, inherited across execve):
 * no mapping may be writable and executable, and none may become executable later.
 */
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#endif
#ifndef PR_MDWE_REFUSE_EXEC_GAIN
#define PR_MDWE_REFUSE_EXEC_GAIN 1
#endif

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: mdwe_exec PROGRAM [ARGS...]\n");
        return 2;
    }
    if (prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0L, 0L, 0L) != 0) {
        perror("mdwe_exec: prctl(PR_SET_MDWE)");
        return 3;
    }
    execv(argv[1], argv + 1);
    perror("mdwe_exec: execv");
    return 127;
}
