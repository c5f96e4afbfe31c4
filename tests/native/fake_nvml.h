/*
 * fake_nvml.h: what the parts of the fake libnvidia-ml.so.1 share: the NVML types as nvml.h lays
 * them out, the scenario's state (fake_nvml.c), and the checks every entry point makes first
 * (fake_nvml_system.c). See fake_nvml.c for the scenario format and the build.
 */
#ifndef FAKE_NVML_H
#define FAKE_NVML_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

typedef int nvret;

enum {
    R_SUCCESS = 0, R_UNINITIALIZED = 1, R_INVALID_ARGUMENT = 2, R_NOT_SUPPORTED = 3, R_NOT_FOUND = 6,
    R_INSUFFICIENT_SIZE = 7, R_TIMEOUT = 10, R_ARGUMENT_VERSION_MISMATCH = 25, R_UNKNOWN = 999,
};

/* Layouts of nvml.h, API version 13, x86-64. */
typedef struct {
    char busIdLegacy[16];
    unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
} pci_info_t;

typedef struct { unsigned int gpu, memory; } utilization_t;

typedef struct {
    unsigned int version;
    unsigned long long total, reserved, free, used;
} memory_v2_t;

typedef struct { unsigned long long total, free, used; } memory_v1_t;

typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId, computeInstanceId;
} process_info_t;

typedef union {
    double d;
    unsigned int ui;
    unsigned long ul;
    unsigned long long ull;
    long long sll;
    int si;
    unsigned short us;
} value_t;

typedef struct {
    unsigned int fieldId, scopeId;
    long long timestamp, latencyUsec;
    int valueType;
    int nvmlReturn;
    value_t value;
} field_value_t;

struct fake_gpu;
struct fake_set;
typedef struct fake_gpu *device_t;
typedef struct fake_set *event_set_t;

typedef struct {
    device_t device;
    unsigned long long eventType, eventData;
    unsigned int gpuInstanceId, computeInstanceId;
} event_data_t;

_Static_assert(sizeof(pci_info_t) == 68, "nvmlPciInfo_t is 68 bytes");
_Static_assert(offsetof(pci_info_t, domain) == 16 && offsetof(pci_info_t, busId) == 36, "nvmlPciInfo_t offsets");
_Static_assert(sizeof(utilization_t) == 8, "nvmlUtilization_t is 8 bytes");
_Static_assert(sizeof(memory_v2_t) == 40 && offsetof(memory_v2_t, total) == 8 && offsetof(memory_v2_t, used) == 32, "nvmlMemory_v2_t");
_Static_assert(sizeof(process_info_t) == 24 && offsetof(process_info_t, gpuInstanceId) == 16, "nvmlProcessInfo_t");
_Static_assert(sizeof(field_value_t) == 40 && offsetof(field_value_t, valueType) == 24 && offsetof(field_value_t, nvmlReturn) == 28 && offsetof(field_value_t, value) == 32, "nvmlFieldValue_t");
_Static_assert(sizeof(event_data_t) == 32 && offsetof(event_data_t, eventData) == 16 && offsetof(event_data_t, computeInstanceId) == 28, "nvmlEventData_t");

#define MAX_GPUS 64
#define MAX_FIELDS 512
#define MAX_PROCS 256
#define MAX_RULES 128
#define MAX_XIDS 256
#define NAME_LEN 64
#define MAX_LINKS 18

struct fake_gpu {
    int index;
    char uuid[96], name[96], busid[32];
    unsigned int util, memutil, power_mw, temp, sm_mhz, mem_mhz;
    unsigned long long mem_total, mem_used, energy_mj, reasons;
    unsigned long long ecc[2][2]; /* [type: 0 corrected, 1 uncorrected][counter: 0 volatile, 1 aggregate] */
    int lost;
    int persistence;
    unsigned long long field[MAX_FIELDS];
    int field_err[MAX_FIELDS];
    int field_type[MAX_FIELDS];
    int nprocs;
    struct { unsigned int pid; unsigned long long bytes; } procs[MAX_PROCS];
    unsigned int nvlinks;
    unsigned int pcie[4];                            /* current gen, max gen, current width, max width */
    unsigned long long nvlink_down;                  /* bit n: link n is down */
    unsigned long long throttle_ns[3];               /* sw thermal, hw thermal, hw power brake */
    unsigned long long link_errors[4][MAX_LINKS];    /* fields 38, 45, 52, 59 per link */
};

struct rule { char name[NAME_LEN]; int gpu; int value; };

struct scenario {
    int init_code, count;
    unsigned int throttle_fields;                    /* 251 or 269: where the clock-event times are; 0: by branch */
    char driver[80], nvml[80];
    struct rule errors[MAX_RULES];
    int nerrors;
    struct rule hangs[MAX_RULES];
    int nhangs;
    struct { int seq, gpu; unsigned long long code; } xids[MAX_XIDS];
    int nxids;
};

struct fake_set {
    unsigned long long mask[MAX_GPUS];
    int last_seq;
};

/* Shared between the parts, not exported. */
#define INTERNAL __attribute__((visibility("hidden")))

INTERNAL extern pthread_mutex_t g_lock;
INTERNAL extern struct fake_gpu g_gpus[MAX_GPUS];
INTERNAL extern struct scenario g_sc;
INTERNAL extern unsigned long long g_field_asks[MAX_FIELDS]; /* entries of nvmlDeviceGetFieldValues, by field id */
INTERNAL extern int g_init_refs;

INTERNAL void count_call(const char *name);
INTERNAL unsigned long long now_us(void);
INTERNAL void reload(void);
INTERNAL void enter(const char *name, device_t dev);
INTERNAL int valid_device(device_t dev);
INTERNAL nvret device_check(const char *name, device_t dev);
INTERNAL nvret system_check(const char *name);

#define DEVICE_CALL(fname)                        \
    enter(fname, dev);                            \
    pthread_mutex_lock(&g_lock);                  \
    nvret rc_ = device_check(fname, dev);         \
    if (rc_ != R_SUCCESS) {                       \
        pthread_mutex_unlock(&g_lock);            \
        return rc_;                               \
    }

#define DONE                                      \
    pthread_mutex_unlock(&g_lock);                \
    return R_SUCCESS;

#endif
