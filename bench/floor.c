/*
 * floor: the least a sampler of the agent's fast lane can cost. It opens the same files the agent
 * reads every tick (every ports/<n>/hw_counters/<counter> of every device under
 * <sysfs>/class/infiniband except lifespan, and <procfs>/net/dev) once, then every interval
 * preads each into a 64-byte buffer at offset 0 and parses the numbers, and nothing else: no
 * derived values, no snapshot, no HTTP. bench/compare.sh measures its CPU time per tick beside the
 * agent's.
 *
 *   cc -O2 -o floor bench/floor.c && ./floor <sysfs> <procfs> <interval-ms>
 *
 * Prints the number of files it reads, then runs until SIGTERM/SIGINT.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILES 65536
#define NETDEV_BUFFER 65536

static int fds[MAX_FILES];
static int nfds;
static volatile sig_atomic_t stop;

static void on_signal(int sig) { (void)sig; stop = 1; }

static int is_dir(const struct dirent *e) { return e->d_type == DT_DIR || e->d_type == DT_LNK; }

static void open_counters(const char *hw)
{
    DIR *d = opendir(hw);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) && nfds < MAX_FILES) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "lifespan") == 0) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", hw, e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) fds[nfds++] = fd;
    }
    closedir(d);
}

static void open_devices(const char *sysfs)
{
    char cls[4096];
    snprintf(cls, sizeof cls, "%s/class/infiniband", sysfs);
    DIR *devs = opendir(cls);
    if (!devs) return;
    struct dirent *dev;
    while ((dev = readdir(devs))) {
        if (dev->d_name[0] == '.' || !is_dir(dev)) continue;
        char ports[4096];
        snprintf(ports, sizeof ports, "%s/%s/ports", cls, dev->d_name);
        DIR *pd = opendir(ports);
        if (!pd) continue;
        struct dirent *port;
        while ((port = readdir(pd))) {
            if (port->d_name[0] == '.') continue;
            char hw[4096];
            snprintf(hw, sizeof hw, "%s/%s/hw_counters", ports, port->d_name);
            open_counters(hw);
        }
        closedir(pd);
    }
    closedir(devs);
}

/* Sums every number in the buffer, so the parse cannot be optimised away. */
static unsigned long long parse_all(const char *p, ssize_t n)
{
    unsigned long long sum = 0, v = 0;
    int in = 0;
    for (ssize_t i = 0; i < n; i++) {
        char c = p[i];
        if (c >= '0' && c <= '9') { v = v * 10 + (unsigned)(c - '0'); in = 1; }
        else if (in) { sum += v; v = 0; in = 0; }
    }
    return sum + v;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s <sysfs> <procfs> <interval-ms>\n", argv[0]);
        return 2;
    }
    open_devices(argv[1]);
    int counters = nfds;
    char netdev[4096];
    snprintf(netdev, sizeof netdev, "%s/net/dev", argv[2]);
    int netfd = open(netdev, O_RDONLY | O_CLOEXEC);
    long interval_ns = atol(argv[3]) * 1000000L;
    printf("floor: %d counter files, %s %s\n", counters, netdev, netfd >= 0 ? "open" : "missing");
    fflush(stdout);

    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    static char buf[NETDEV_BUFFER];
    volatile unsigned long long sink = 0;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (!stop) {
        for (int i = 0; i < nfds; i++) {
            ssize_t n = pread(fds[i], buf, 64, 0);
            if (n > 0) sink += strtoull(buf, NULL, 10);
        }
        if (netfd >= 0) {
            ssize_t n = pread(netfd, buf, sizeof buf, 0);
            if (n > 0) sink += parse_all(buf, n);
        }
        next.tv_nsec += interval_ns;
        while (next.tv_nsec >= 1000000000L) { next.tv_nsec -= 1000000000L; next.tv_sec++; }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
    (void)sink;
    return 0;
}
