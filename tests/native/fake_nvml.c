/*
 * fake_nvml.c: a stand-in for libnvidia-ml.so.1 that the tests load through the agent's real
 * binding. It exports the entry points the agent resolves, with the signatures and struct layouts
 * of nvml.h (API version 13, x86-64; declared here from the documented layouts, not copied from NVIDIA's header),
 * and plays a scenario file so a test can script GPUs, values, per-call errors, lost GPUs, Xid
 * events and calls that hang, and change them while the agent runs.
 *
 * Build: cc -shared -fPIC -O2 -o <dir>/libnvidia-ml.so.1 fake_nvml.c -lpthread
 *        add -DFAKE_NVML_LEGACY for an old driver: only the unversioned/older entry points, and no
 *        nvmlDeviceGetTotalEnergyConsumption or nvmlDeviceGetSamples.
 *
 * The scenario file is $FAKE_NVML_SCENARIO, or else "fake_nvml.scenario" next to the loaded library
 * (so that each copy of the library a test loads has its own). It is re-read whenever its inode,
 * size or mtime changes. One directive per line, '#' starts a comment, later lines win:
 *
 *   init <code>                    nvmlInit return code (default 0)
 *   count <n>                      number of GPUs (default 8, at most 64)
 *   driver <text> / nvml <text>    system driver / NVML version strings
 *   hang <function> <ms> [<gpu>]   every call of <function> (on <gpu>) sleeps <ms> first
 *   xid <seq> <gpu> <code>         an Xid event; each seq is delivered once, in order
 *   <gpu|*> lost <code>            every call on the GPU returns <code> (15 lost, 16 reset required)
 *   <gpu|*> error <function> <code>   <function> returns <code> for that GPU
 *   <gpu|*> field <id> <value>     value of a field for nvmlDeviceGetFieldValues (ids whose meaning
 *                                  depends on the driver branch are set by meaning, see below)
 *   <gpu|*> nvlink_errors <id> <v0> <v1> ...   per-link values of field 38/45/52/59 (link = scopeId)
 *   <gpu|*> fielderr <id> <code>   per-field return code
 *   <gpu|*> fieldtype <id> <type>  value type of a field (0 double, 1 uint, 3 ulonglong, ...)
 *   <gpu|*> set <key> <value>      key: uuid name busid util memutil mem_total mem_used power_mw
 *                                  energy_mj temp sm_mhz mem_mhz reasons ecc_cv ecc_ca ecc_uv ecc_ua
 *                                  persistence (0/1, default 1)
 *                                  nvlinks (link count, default 18) throttle_sw_thermal
 *                                  throttle_hw_thermal throttle_hw_power_brake (ns) rates_util
 *                                  rates_memutil (GetUtilizationRates, when unlike the samples)
 *                                  no_memsamples (1: no new memory-utilisation sample, ever)
 *                                  pcie_gen pcie_gen_max pcie_width pcie_width_max (default 5 5 16 16)
 *                                  nvlink_down (bit mask of links nvmlDeviceGetNvLinkState says are down)
 *
 * Field ids answer the way the header of the driver's branch (the major version of `driver`, default
 * 999 = newest) defines them, and NOT_SUPPORTED where that header does not define the id:
 *   197/198 PCIE_COUNT_TX/RX_BYTES         from R555
 *   251-253                                 R575-R589: CLOCKS_EVENT_REASON_SW_THERMAL / HW_THERMAL /
 *                                           HW_POWER_BRAKE time (ns); R590+: PWR_SMOOTHING_* settings
 *   269-271                                 R575-R589: PWR_SMOOTHING_* settings; R590+: the three
 *                                           clock-event times
 *   199-271 otherwise                       from R575 (their values are whatever `field` set)
 *   above 271                               not defined
 *   38/45/52/59 NVLink error totals         scopeId is the link (13.x header); a scope at or past the
 *                                           link count (UINT_MAX included) is INVALID_ARGUMENT
 * A power-smoothing setting reads as a small number (1, 2, 3): exported as throttle seconds it would
 * be a wrong value that a test can see.
 *   <gpu|*> procs <pid>:<bytes> ...   running compute processes
 *
 * fake_nvml_calls(name) returns how many times an entry point was called (for batching tests).
 */
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

typedef struct { unsigned long long timeStamp; value_t sampleValue; } sample_t;

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
_Static_assert(sizeof(sample_t) == 16, "nvmlSample_t is 16 bytes");
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
    int rates_util, rates_memutil;                   /* GetUtilizationRates when >= 0, else util/memutil */
    int no_memsamples;                               /* GetSamples(memory) has nothing new */
    unsigned int pcie[4];                            /* current gen, max gen, current width, max width */
    unsigned long long nvlink_down;                  /* bit n: link n is down */
    unsigned long long throttle_ns[3];               /* sw thermal, hw thermal, hw power brake */
    unsigned long long link_errors[4][MAX_LINKS];    /* fields 38, 45, 52, 59 per link */
};

struct rule { char name[NAME_LEN]; int gpu; int value; };

struct scenario {
    int init_code, count;
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

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fake_gpu g_gpus[MAX_GPUS]; /* handles point here and stay valid across reloads */
static struct scenario g_sc;
static int g_loaded;
static int g_init_refs;
static char g_path[4096];
static struct stat g_stat;
static int g_stat_valid;

static struct { const char *name; unsigned long long n; } g_calls[64];

static void count_call(const char *name)
{
    for (int i = 0; i < 64; i++) {
        if (g_calls[i].name == NULL) {
            g_calls[i].name = name;
            g_calls[i].n = 1;
            return;
        }
        if (strcmp(g_calls[i].name, name) == 0) {
            g_calls[i].n++;
            return;
        }
    }
}

EXPORT unsigned long long fake_nvml_calls(const char *name)
{
    unsigned long long n = 0;
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < 64 && g_calls[i].name != NULL; i++) {
        if (strcmp(g_calls[i].name, name) == 0) {
            n = g_calls[i].n;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return n;
}

static unsigned long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL;
}

static void defaults(void)
{
    memset(&g_sc, 0, sizeof g_sc);
    g_sc.count = 8;
    snprintf(g_sc.driver, sizeof g_sc.driver, "%s", "999.99.99-fake");
    snprintf(g_sc.nvml, sizeof g_sc.nvml, "%s", "13.999.99-fake");
    for (int i = 0; i < MAX_GPUS; i++) {
        struct fake_gpu *g = &g_gpus[i];
        memset(g, 0, sizeof *g);
        g->index = i;
        snprintf(g->uuid, sizeof g->uuid, "GPU-fa6e0000-0000-4000-8000-%012d", i);
        snprintf(g->name, sizeof g->name, "%s", "Fake H100 80GB HBM3");
        snprintf(g->busid, sizeof g->busid, "00000000:%02X:00.0", 0x10 * (i + 1) % 256);
        g->util = 50 + (unsigned)i;
        g->memutil = 20 + (unsigned)i;
        g->mem_total = 80ULL << 30;
        g->mem_used = (10ULL + (unsigned)i) << 30;
        g->power_mw = 300000 + 1000 * (unsigned)i;
        g->energy_mj = 1000000ULL * (unsigned)(i + 1);
        g->temp = 40 + (unsigned)i;
        g->sm_mhz = 1980;
        g->mem_mhz = 2619;
        g->persistence = 1;
        for (int f = 0; f < MAX_FIELDS; f++) {
            g->field_type[f] = 3; /* unsigned long long */
        }
        g->field[82] = 50 + (unsigned)i; /* memory temperature */
        g->field_type[82] = 1;
        g->nvlinks = MAX_LINKS;
        g->rates_util = -1;
        g->pcie[0] = g->pcie[1] = 5;
        g->pcie[2] = g->pcie[3] = 16;
        g->rates_memutil = -1;
    }
}

static void copy_name(char *dst, const char *src)
{
    snprintf(dst, NAME_LEN, "%s", src);
}

static void apply_gpu(struct fake_gpu *g, const char *verb, char *rest)
{
    char a[256] = "", b[256] = "";
    if (strcmp(verb, "lost") == 0) {
        g->lost = atoi(rest);
    } else if (strcmp(verb, "field") == 0 && sscanf(rest, "%255s %255s", a, b) == 2) {
        int id = atoi(a);
        if (id >= 0 && id < MAX_FIELDS) {
            g->field[id] = strtoull(b, NULL, 0);
        }
    } else if (strcmp(verb, "fielderr") == 0 && sscanf(rest, "%255s %255s", a, b) == 2) {
        int id = atoi(a);
        if (id >= 0 && id < MAX_FIELDS) {
            g->field_err[id] = atoi(b);
        }
    } else if (strcmp(verb, "fieldtype") == 0 && sscanf(rest, "%255s %255s", a, b) == 2) {
        int id = atoi(a);
        if (id >= 0 && id < MAX_FIELDS) {
            g->field_type[id] = atoi(b);
        }
    } else if (strcmp(verb, "nvlink_errors") == 0 && sscanf(rest, "%255s", a) == 1) {
        int k = atoi(a) == 38 ? 0 : atoi(a) == 45 ? 1 : atoi(a) == 52 ? 2 : atoi(a) == 59 ? 3 : -1;
        char *tok = strtok(rest, " \t");
        for (int link = 0; k >= 0 && link < MAX_LINKS && (tok = strtok(NULL, " \t")) != NULL; link++) {
            g->link_errors[k][link] = strtoull(tok, NULL, 0);
        }
    } else if (strcmp(verb, "procs") == 0) {
        g->nprocs = 0;
        for (char *tok = strtok(rest, " \t"); tok != NULL && g->nprocs < MAX_PROCS; tok = strtok(NULL, " \t")) {
            char *colon = strchr(tok, ':');
            if (colon == NULL) {
                continue;
            }
            *colon = 0;
            g->procs[g->nprocs].pid = (unsigned)strtoul(tok, NULL, 10);
            g->procs[g->nprocs].bytes = strtoull(colon + 1, NULL, 0);
            g->nprocs++;
        }
    } else if (strcmp(verb, "set") == 0 && sscanf(rest, "%255s %255[^\n]", a, b) == 2) {
        unsigned long long v = strtoull(b, NULL, 0);
        if (strcmp(a, "uuid") == 0) snprintf(g->uuid, sizeof g->uuid, "%s", b);
        else if (strcmp(a, "name") == 0) snprintf(g->name, sizeof g->name, "%s", b);
        else if (strcmp(a, "busid") == 0) snprintf(g->busid, sizeof g->busid, "%s", b);
        else if (strcmp(a, "util") == 0) g->util = (unsigned)v;
        else if (strcmp(a, "memutil") == 0) g->memutil = (unsigned)v;
        else if (strcmp(a, "mem_total") == 0) g->mem_total = v;
        else if (strcmp(a, "mem_used") == 0) g->mem_used = v;
        else if (strcmp(a, "power_mw") == 0) g->power_mw = (unsigned)v;
        else if (strcmp(a, "energy_mj") == 0) g->energy_mj = v;
        else if (strcmp(a, "temp") == 0) g->temp = (unsigned)v;
        else if (strcmp(a, "sm_mhz") == 0) g->sm_mhz = (unsigned)v;
        else if (strcmp(a, "mem_mhz") == 0) g->mem_mhz = (unsigned)v;
        else if (strcmp(a, "reasons") == 0) g->reasons = v;
        else if (strcmp(a, "ecc_cv") == 0) g->ecc[0][0] = v;
        else if (strcmp(a, "ecc_ca") == 0) g->ecc[0][1] = v;
        else if (strcmp(a, "ecc_uv") == 0) g->ecc[1][0] = v;
        else if (strcmp(a, "ecc_ua") == 0) g->ecc[1][1] = v;
        else if (strcmp(a, "persistence") == 0) g->persistence = v != 0;
        else if (strcmp(a, "rates_util") == 0) g->rates_util = (int)v;
        else if (strcmp(a, "rates_memutil") == 0) g->rates_memutil = (int)v;
        else if (strcmp(a, "no_memsamples") == 0) g->no_memsamples = (int)v;
        else if (strcmp(a, "pcie_gen") == 0) g->pcie[0] = (unsigned)v;
        else if (strcmp(a, "pcie_gen_max") == 0) g->pcie[1] = (unsigned)v;
        else if (strcmp(a, "pcie_width") == 0) g->pcie[2] = (unsigned)v;
        else if (strcmp(a, "pcie_width_max") == 0) g->pcie[3] = (unsigned)v;
        else if (strcmp(a, "nvlink_down") == 0) g->nvlink_down = v;
        else if (strcmp(a, "nvlinks") == 0) g->nvlinks = v > MAX_LINKS ? MAX_LINKS : (unsigned)v;
        else if (strcmp(a, "throttle_sw_thermal") == 0) g->throttle_ns[0] = v;
        else if (strcmp(a, "throttle_hw_thermal") == 0) g->throttle_ns[1] = v;
        else if (strcmp(a, "throttle_hw_power_brake") == 0) g->throttle_ns[2] = v;
    }
}

static void add_rule(struct rule *rules, int *n, const char *name, int gpu, int value)
{
    if (*n < MAX_RULES) {
        copy_name(rules[*n].name, name);
        rules[*n].gpu = gpu;
        rules[*n].value = value;
        (*n)++;
    }
}

static void parse_line(char *line)
{
    char *hash = strchr(line, '#');
    if (hash != NULL) {
        *hash = 0;
    }
    char w0[256] = "", w1[256] = "", w2[256] = "", w3[256] = "";
    int n = sscanf(line, "%255s %255s %255s %255s", w0, w1, w2, w3);
    if (n <= 0) {
        return;
    }
    if (strcmp(w0, "init") == 0 && n >= 2) {
        g_sc.init_code = atoi(w1);
    } else if (strcmp(w0, "count") == 0 && n >= 2) {
        int c = atoi(w1);
        g_sc.count = c < 0 ? 0 : c > MAX_GPUS ? MAX_GPUS : c;
    } else if (strcmp(w0, "driver") == 0 && n >= 2) {
        snprintf(g_sc.driver, sizeof g_sc.driver, "%s", w1);
    } else if (strcmp(w0, "nvml") == 0 && n >= 2) {
        snprintf(g_sc.nvml, sizeof g_sc.nvml, "%s", w1);
    } else if (strcmp(w0, "hang") == 0 && n >= 3) {
        add_rule(g_sc.hangs, &g_sc.nhangs, w1, n >= 4 ? atoi(w3) : -1, atoi(w2));
    } else if (strcmp(w0, "xid") == 0 && n >= 4 && g_sc.nxids < MAX_XIDS) {
        g_sc.xids[g_sc.nxids].seq = atoi(w1);
        g_sc.xids[g_sc.nxids].gpu = atoi(w2);
        g_sc.xids[g_sc.nxids].code = strtoull(w3, NULL, 0);
        g_sc.nxids++;
    } else if (n >= 2) {
        int all = strcmp(w0, "*") == 0;
        int gpu = all ? -1 : atoi(w0);
        if (!all && (gpu < 0 || gpu >= MAX_GPUS)) {
            return;
        }
        if (strcmp(w1, "error") == 0 && n >= 4) {
            add_rule(g_sc.errors, &g_sc.nerrors, w2, gpu, atoi(w3));
            return;
        }
        /* The rest of the line after the verb. */
        char *rest = strstr(line, w1) + strlen(w1);
        while (*rest == ' ' || *rest == '\t') {
            rest++;
        }
        char *nl = strchr(rest, '\n');
        if (nl != NULL) {
            *nl = 0;
        }
        for (int i = 0; i < MAX_GPUS; i++) {
            if (all || i == gpu) {
                char copy[4096];
                snprintf(copy, sizeof copy, "%s", rest);
                apply_gpu(&g_gpus[i], w1, copy);
            }
        }
    }
}

static void scenario_path(void)
{
    if (g_path[0] != 0) {
        return;
    }
    const char *env = getenv("FAKE_NVML_SCENARIO");
    if (env != NULL && env[0] != 0) {
        snprintf(g_path, sizeof g_path, "%s", env);
        return;
    }
    Dl_info info;
    if (dladdr((void *)&scenario_path, &info) != 0 && info.dli_fname != NULL) {
        snprintf(g_path, sizeof g_path, "%s", info.dli_fname);
        char *slash = strrchr(g_path, '/');
        if (slash != NULL) {
            snprintf(slash + 1, sizeof g_path - (size_t)(slash + 1 - g_path), "%s", "fake_nvml.scenario");
            return;
        }
    }
    snprintf(g_path, sizeof g_path, "%s", "fake_nvml.scenario");
}

/* Called with g_lock held: re-reads the scenario when the file changed. */
static void reload(void)
{
    scenario_path();
    struct stat st;
    int exists = stat(g_path, &st) == 0;
    if (g_loaded && exists == g_stat_valid &&
        (!exists || (st.st_ino == g_stat.st_ino && st.st_size == g_stat.st_size &&
                     st.st_mtim.tv_sec == g_stat.st_mtim.tv_sec && st.st_mtim.tv_nsec == g_stat.st_mtim.tv_nsec))) {
        return;
    }
    defaults();
    g_loaded = 1;
    g_stat_valid = exists;
    if (!exists) {
        return;
    }
    g_stat = st;
    FILE *f = fopen(g_path, "r");
    if (f == NULL) {
        return;
    }
    char line[4096];
    while (fgets(line, sizeof line, f) != NULL) {
        parse_line(line);
    }
    fclose(f);
}

/* Counts the call, re-reads the scenario and sleeps when the scenario says this call hangs. */
static void enter(const char *name, device_t dev)
{
    int ms = 0;
    pthread_mutex_lock(&g_lock);
    count_call(name);
    reload();
    for (int i = 0; i < g_sc.nhangs; i++) {
        if (strcmp(g_sc.hangs[i].name, name) == 0 && (g_sc.hangs[i].gpu < 0 || (dev != NULL && g_sc.hangs[i].gpu == dev->index))) {
            ms = g_sc.hangs[i].value;
        }
    }
    pthread_mutex_unlock(&g_lock);
    if (ms > 0) {
        usleep((useconds_t)ms * 1000);
    }
}

static int valid_device(device_t dev)
{
    return dev != NULL && dev >= &g_gpus[0] && dev < &g_gpus[MAX_GPUS] && dev->index < g_sc.count;
}

/* Called with g_lock held: the return code a device call gets before doing anything. */
static nvret device_check(const char *name, device_t dev)
{
    if (g_init_refs == 0) {
        return R_UNINITIALIZED;
    }
    if (!valid_device(dev)) {
        return R_INVALID_ARGUMENT;
    }
    if (dev->lost != 0) {
        return dev->lost;
    }
    for (int i = 0; i < g_sc.nerrors; i++) {
        if (strcmp(g_sc.errors[i].name, name) == 0 && (g_sc.errors[i].gpu < 0 || g_sc.errors[i].gpu == dev->index)) {
            return g_sc.errors[i].value;
        }
    }
    return R_SUCCESS;
}

/* Called with g_lock held: a system-level (no device) call. */
static nvret system_check(const char *name)
{
    if (g_init_refs == 0) {
        return R_UNINITIALIZED;
    }
    for (int i = 0; i < g_sc.nerrors; i++) {
        if (strcmp(g_sc.errors[i].name, name) == 0 && g_sc.errors[i].gpu < 0) {
            return g_sc.errors[i].value;
        }
    }
    return R_SUCCESS;
}

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

static const char *error_text(nvret r)
{
    switch (r) {
    case 0: return "Success";
    case 1: return "Uninitialized";
    case 2: return "Invalid Argument";
    case 3: return "Not Supported";
    case 4: return "Insufficient Permissions";
    case 5: return "Already Initialized";
    case 6: return "Not Found";
    case 7: return "Insufficient Size";
    case 8: return "Insufficient External Power";
    case 9: return "Driver Not Loaded";
    case 10: return "Timeout";
    case 11: return "Interrupt Request Issue";
    case 12: return "NVML Shared Library Not Found";
    case 13: return "Function Not Found";
    case 14: return "Corrupted infoROM";
    case 15: return "GPU is lost";
    case 16: return "GPU requires restart";
    case 17: return "The operating system has blocked the request.";
    case 18: return "RM has detected an NVML/RM version mismatch.";
    case 19: return "In use by another client";
    case 20: return "Insufficient Memory";
    case 21: return "No data";
    case 25: return "Argument version mismatch";
    default: return "Unknown Error";
    }
}

EXPORT const char *nvmlErrorString(nvret result)
{
    return error_text(result);
}

static nvret do_init(const char *name)
{
    enter(name, NULL);
    pthread_mutex_lock(&g_lock);
    nvret rc = g_sc.init_code;
    if (rc == R_SUCCESS) {
        g_init_refs++;
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

EXPORT nvret nvmlInit(void) { return do_init("nvmlInit"); }
#ifndef FAKE_NVML_LEGACY
EXPORT nvret nvmlInit_v2(void) { return do_init("nvmlInit_v2"); }
#endif

EXPORT nvret nvmlShutdown(void)
{
    enter("nvmlShutdown", NULL);
    pthread_mutex_lock(&g_lock);
    nvret rc = R_UNINITIALIZED;
    if (g_init_refs > 0) {
        g_init_refs--;
        rc = R_SUCCESS;
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

static nvret copy_string(const char *name, char *buf, unsigned int len, const char *value)
{
    enter(name, NULL);
    pthread_mutex_lock(&g_lock);
    nvret rc = system_check(name);
    if (rc == R_SUCCESS) {
        if (buf == NULL || strlen(value) + 1 > len) {
            rc = R_INSUFFICIENT_SIZE;
        } else {
            snprintf(buf, len, "%s", value);
        }
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

EXPORT nvret nvmlSystemGetDriverVersion(char *buf, unsigned int len)
{
    pthread_mutex_lock(&g_lock);
    reload();
    char v[80];
    snprintf(v, sizeof v, "%s", g_sc.driver);
    pthread_mutex_unlock(&g_lock);
    return copy_string("nvmlSystemGetDriverVersion", buf, len, v);
}

EXPORT nvret nvmlSystemGetNVMLVersion(char *buf, unsigned int len)
{
    pthread_mutex_lock(&g_lock);
    reload();
    char v[80];
    snprintf(v, sizeof v, "%s", g_sc.nvml);
    pthread_mutex_unlock(&g_lock);
    return copy_string("nvmlSystemGetNVMLVersion", buf, len, v);
}

static nvret get_count(const char *name, unsigned int *count)
{
    enter(name, NULL);
    pthread_mutex_lock(&g_lock);
    nvret rc = system_check(name);
    if (rc == R_SUCCESS) {
        if (count == NULL) {
            rc = R_INVALID_ARGUMENT;
        } else {
            *count = (unsigned)g_sc.count;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

EXPORT nvret nvmlDeviceGetCount(unsigned int *count) { return get_count("nvmlDeviceGetCount", count); }
#ifndef FAKE_NVML_LEGACY
EXPORT nvret nvmlDeviceGetCount_v2(unsigned int *count) { return get_count("nvmlDeviceGetCount_v2", count); }
#endif

static nvret get_handle(const char *name, unsigned int index, device_t *dev)
{
    enter(name, NULL);
    pthread_mutex_lock(&g_lock);
    nvret rc = system_check(name);
    if (rc == R_SUCCESS) {
        if (dev == NULL || index >= (unsigned)g_sc.count) {
            rc = R_INVALID_ARGUMENT;
        } else {
            *dev = &g_gpus[index];
            for (int i = 0; i < g_sc.nerrors; i++) {
                if (strcmp(g_sc.errors[i].name, name) == 0 && g_sc.errors[i].gpu == (int)index) {
                    rc = g_sc.errors[i].value;
                }
            }
        }
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

EXPORT nvret nvmlDeviceGetHandleByIndex(unsigned int index, device_t *dev) { return get_handle("nvmlDeviceGetHandleByIndex", index, dev); }
#ifndef FAKE_NVML_LEGACY
EXPORT nvret nvmlDeviceGetHandleByIndex_v2(unsigned int index, device_t *dev) { return get_handle("nvmlDeviceGetHandleByIndex_v2", index, dev); }
#endif

static nvret device_string(const char *fname, device_t dev, char *buf, unsigned int len, int which)
{
    DEVICE_CALL(fname)
    const char *value = which == 0 ? dev->uuid : dev->name;
    if (buf == NULL || strlen(value) + 1 > len) {
        pthread_mutex_unlock(&g_lock);
        return R_INSUFFICIENT_SIZE;
    }
    snprintf(buf, len, "%s", value);
    DONE
}

EXPORT nvret nvmlDeviceGetUUID(device_t dev, char *buf, unsigned int len) { return device_string("nvmlDeviceGetUUID", dev, buf, len, 0); }
EXPORT nvret nvmlDeviceGetName(device_t dev, char *buf, unsigned int len) { return device_string("nvmlDeviceGetName", dev, buf, len, 1); }

static nvret pci_info(const char *fname, device_t dev, pci_info_t *pci)
{
    DEVICE_CALL(fname)
    if (pci == NULL) {
        pthread_mutex_unlock(&g_lock);
        return R_INVALID_ARGUMENT;
    }
    memset(pci, 0, sizeof *pci);
    snprintf(pci->busId, sizeof pci->busId, "%s", dev->busid);
    unsigned int domain = 0, bus = 0, device = 0;
    sscanf(dev->busid, "%x:%x:%x", &domain, &bus, &device);
    pci->domain = domain;
    pci->bus = bus;
    pci->device = device;
    snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%04X:%02X:%02X.0", domain & 0xFFFF, bus, device);
    pci->pciDeviceId = 0x233010DEu;
    pci->pciSubSystemId = 0x16C110DEu;
    DONE
}

EXPORT nvret nvmlDeviceGetPciInfo_v2(device_t dev, pci_info_t *pci) { return pci_info("nvmlDeviceGetPciInfo_v2", dev, pci); }
#ifndef FAKE_NVML_LEGACY
EXPORT nvret nvmlDeviceGetPciInfo_v3(device_t dev, pci_info_t *pci) { return pci_info("nvmlDeviceGetPciInfo_v3", dev, pci); }
#endif

EXPORT nvret nvmlDeviceGetUtilizationRates(device_t dev, utilization_t *u)
{
    DEVICE_CALL("nvmlDeviceGetUtilizationRates")
    u->gpu = dev->rates_util >= 0 ? (unsigned)dev->rates_util : dev->util;
    u->memory = dev->rates_memutil >= 0 ? (unsigned)dev->rates_memutil : dev->memutil;
    DONE
}

#ifndef FAKE_NVML_LEGACY
EXPORT nvret nvmlDeviceGetMemoryInfo_v2(device_t dev, memory_v2_t *m)
{
    DEVICE_CALL("nvmlDeviceGetMemoryInfo_v2")
    if (m->version != 0x02000028u) {
        pthread_mutex_unlock(&g_lock);
        return R_ARGUMENT_VERSION_MISMATCH;
    }
    m->total = dev->mem_total;
    m->reserved = 512ULL << 20;
    m->used = dev->mem_used;
    m->free = dev->mem_total - dev->mem_used - m->reserved;
    DONE
}
#endif

EXPORT nvret nvmlDeviceGetMemoryInfo(device_t dev, memory_v1_t *m)
{
    DEVICE_CALL("nvmlDeviceGetMemoryInfo")
    m->total = dev->mem_total;
    m->used = dev->mem_used;
    m->free = dev->mem_total - dev->mem_used;
    DONE
}

EXPORT nvret nvmlDeviceGetPowerUsage(device_t dev, unsigned int *mw)
{
    DEVICE_CALL("nvmlDeviceGetPowerUsage")
    *mw = dev->power_mw;
    DONE
}

#ifndef FAKE_NVML_LEGACY
EXPORT nvret nvmlDeviceGetTotalEnergyConsumption(device_t dev, unsigned long long *mj)
{
    DEVICE_CALL("nvmlDeviceGetTotalEnergyConsumption")
    *mj = dev->energy_mj;
    DONE
}
#endif

EXPORT nvret nvmlDeviceGetTemperature(device_t dev, int sensor, unsigned int *celsius)
{
    DEVICE_CALL("nvmlDeviceGetTemperature")
    if (sensor != 0) {
        pthread_mutex_unlock(&g_lock);
        return R_INVALID_ARGUMENT;
    }
    *celsius = dev->temp;
    DONE
}

EXPORT nvret nvmlDeviceGetClockInfo(device_t dev, int type, unsigned int *mhz)
{
    DEVICE_CALL("nvmlDeviceGetClockInfo")
    switch (type) {
    case 0:
    case 1: *mhz = dev->sm_mhz; break;
    case 2: *mhz = dev->mem_mhz; break;
    case 3: *mhz = 1755; break;
    default:
        pthread_mutex_unlock(&g_lock);
        return R_INVALID_ARGUMENT;
    }
    DONE
}

static nvret reasons(const char *fname, device_t dev, unsigned long long *mask)
{
    DEVICE_CALL(fname)
    *mask = dev->reasons;
    DONE
}

EXPORT nvret nvmlDeviceGetCurrentClocksThrottleReasons(device_t dev, unsigned long long *mask) { return reasons("nvmlDeviceGetCurrentClocksThrottleReasons", dev, mask); }
#ifndef FAKE_NVML_LEGACY
EXPORT nvret nvmlDeviceGetCurrentClocksEventReasons(device_t dev, unsigned long long *mask) { return reasons("nvmlDeviceGetCurrentClocksEventReasons", dev, mask); }
#endif

static nvret pcie_link(const char *fname, device_t dev, int which, unsigned int *value)
{
    DEVICE_CALL(fname)
    *value = dev->pcie[which];
    DONE
}

EXPORT nvret nvmlDeviceGetCurrPcieLinkGeneration(device_t dev, unsigned int *v) { return pcie_link("nvmlDeviceGetCurrPcieLinkGeneration", dev, 0, v); }
EXPORT nvret nvmlDeviceGetMaxPcieLinkGeneration(device_t dev, unsigned int *v) { return pcie_link("nvmlDeviceGetMaxPcieLinkGeneration", dev, 1, v); }
EXPORT nvret nvmlDeviceGetCurrPcieLinkWidth(device_t dev, unsigned int *v) { return pcie_link("nvmlDeviceGetCurrPcieLinkWidth", dev, 2, v); }
EXPORT nvret nvmlDeviceGetMaxPcieLinkWidth(device_t dev, unsigned int *v) { return pcie_link("nvmlDeviceGetMaxPcieLinkWidth", dev, 3, v); }

/* isActive is an nvmlEnableState_t: 1 enabled (up), 0 disabled. A link the GPU does not have is INVALID_ARGUMENT. */
EXPORT nvret nvmlDeviceGetNvLinkState(device_t dev, unsigned int link, int *is_active)
{
    DEVICE_CALL("nvmlDeviceGetNvLinkState")
    if (link >= dev->nvlinks || is_active == NULL) {
        pthread_mutex_unlock(&g_lock);
        return R_INVALID_ARGUMENT;
    }
    *is_active = (dev->nvlink_down >> link) & 1ULL ? 0 : 1;
    DONE
}

/* Blocks about 20 ms like the real call; the agent must never use it. */
EXPORT nvret nvmlDeviceGetPcieThroughput(device_t dev, int counter, unsigned int *kbps)
{
    (void)counter;
    DEVICE_CALL("nvmlDeviceGetPcieThroughput")
    pthread_mutex_unlock(&g_lock);
    usleep(20000);
    *kbps = 0;
    return R_SUCCESS;
}

/* Called with g_lock held: what the header of the scenario's driver branch says field <id> is. */
static nvret branch_field(device_t dev, unsigned int id, unsigned int scope, unsigned long long *raw, int *type)
{
    int major = atoi(g_sc.driver);
    if (id > 271 || ((id == 197 || id == 198) && major < 555) || (id >= 199 && major < 575)) {
        return R_NOT_SUPPORTED;
    }
    unsigned int throttle = major >= 590 ? 269 : 251, smoothing = major >= 590 ? 251 : 269;
    if (id >= throttle && id < throttle + 3) {
        *raw = dev->throttle_ns[id - throttle];
        *type = 3;
    } else if (id >= smoothing && id < smoothing + 3) {
        *raw = 1 + id - smoothing;
        *type = 1;
    } else if (id == 38 || id == 45 || id == 52 || id == 59) {
        if (scope >= dev->nvlinks) {
            return R_INVALID_ARGUMENT;
        }
        *raw = dev->link_errors[(id - 38) / 7][scope];
        *type = 3;
    } else if (id == 91) {
        *raw = dev->nvlinks;
        *type = 1;
    }
    return R_SUCCESS;
}

EXPORT nvret nvmlDeviceGetFieldValues(device_t dev, int count, field_value_t *values)
{
    DEVICE_CALL("nvmlDeviceGetFieldValues")
    if (count < 0 || (count > 0 && values == NULL)) {
        pthread_mutex_unlock(&g_lock);
        return R_INVALID_ARGUMENT;
    }
    long long ts = (long long)now_us();
    for (int i = 0; i < count; i++) {
        field_value_t *v = &values[i];
        unsigned int id = v->fieldId;
        v->timestamp = ts;
        v->latencyUsec = 0;
        v->value.ull = 0;
        if (id >= MAX_FIELDS) {
            v->nvmlReturn = R_NOT_SUPPORTED;
            continue;
        }
        if (dev->field_err[id] != 0) {
            v->nvmlReturn = dev->field_err[id];
            continue;
        }
        unsigned long long raw = dev->field[id];
        int type = dev->field_type[id];
        nvret frc = branch_field(dev, id, v->scopeId, &raw, &type);
        if (frc != R_SUCCESS) {
            v->nvmlReturn = frc;
            continue;
        }
        if (id >= 138 && id <= 141 && v->scopeId != 0xFFFFFFFFu) {
            /* One link: the per-link share of the total. */
            if (v->scopeId >= dev->nvlinks) {
                v->nvmlReturn = R_INVALID_ARGUMENT;
                continue;
            }
            raw /= dev->nvlinks;
        }
        v->nvmlReturn = R_SUCCESS;
        v->valueType = type;
        switch (v->valueType) {
        case 0: v->value.d = (double)raw; break;
        case 1: v->value.ui = (unsigned int)raw; break;
        case 2: v->value.ul = (unsigned long)raw; break;
        case 4: v->value.sll = (long long)raw; break;
        case 5: v->value.si = (int)raw; break;
        case 6: v->value.us = (unsigned short)raw; break;
        default: v->value.ull = raw; break;
        }
    }
    DONE
}

#ifndef FAKE_NVML_LEGACY
/* One sample every 100 ms of wall time, all with the scenario's current value. */
EXPORT nvret nvmlDeviceGetSamples(device_t dev, int type, unsigned long long last_seen, int *value_type,
                                  unsigned int *count, sample_t *samples)
{
    DEVICE_CALL("nvmlDeviceGetSamples")
    unsigned int value;
    if (type == 1) {
        value = dev->util;
    } else if (type == 2) {
        if (dev->no_memsamples) {
            pthread_mutex_unlock(&g_lock);
            return R_NOT_FOUND;
        }
        value = dev->memutil;
    } else {
        pthread_mutex_unlock(&g_lock);
        return R_NOT_SUPPORTED;
    }
    if (count == NULL || value_type == NULL) {
        pthread_mutex_unlock(&g_lock);
        return R_INVALID_ARGUMENT;
    }
    const unsigned long long step = 100000ULL;
    unsigned long long newest = now_us() / step * step;
    unsigned long long n = 100;
    if (last_seen >= newest) {
        n = 0;
    } else if (last_seen > 0 && (newest - last_seen) / step < n) {
        n = (newest - last_seen) / step;
    }
    *value_type = 1;
    if (n == 0) {
        pthread_mutex_unlock(&g_lock);
        return R_NOT_FOUND;
    }
    if (samples == NULL) {
        *count = (unsigned)n;
        DONE
    }
    if (*count < n) {
        n = *count; /* the newest ones that fit */
    }
    for (unsigned long long i = 0; i < n; i++) {
        samples[i].timeStamp = newest - (n - 1 - i) * step;
        samples[i].sampleValue.ull = 0;
        samples[i].sampleValue.ui = value;
    }
    *count = (unsigned)n;
    DONE
}
#endif

static nvret processes(const char *fname, device_t dev, unsigned int *count, process_info_t *infos)
{
    DEVICE_CALL(fname)
    if (count == NULL) {
        pthread_mutex_unlock(&g_lock);
        return R_INVALID_ARGUMENT;
    }
    unsigned int n = (unsigned)dev->nprocs;
    if (infos == NULL || *count < n) {
        nvret rc = n == 0 ? R_SUCCESS : R_INSUFFICIENT_SIZE;
        *count = n;
        pthread_mutex_unlock(&g_lock);
        return rc;
    }
    for (unsigned int i = 0; i < n; i++) {
        infos[i].pid = dev->procs[i].pid;
        infos[i].usedGpuMemory = dev->procs[i].bytes;
        infos[i].gpuInstanceId = 0xFFFFFFFFu;
        infos[i].computeInstanceId = 0xFFFFFFFFu;
    }
    *count = n;
    DONE
}

EXPORT nvret nvmlDeviceGetComputeRunningProcesses_v2(device_t dev, unsigned int *count, process_info_t *infos) { return processes("nvmlDeviceGetComputeRunningProcesses_v2", dev, count, infos); }
#ifndef FAKE_NVML_LEGACY
EXPORT nvret nvmlDeviceGetComputeRunningProcesses_v3(device_t dev, unsigned int *count, process_info_t *infos) { return processes("nvmlDeviceGetComputeRunningProcesses_v3", dev, count, infos); }
#endif

EXPORT nvret nvmlDeviceGetTotalEccErrors(device_t dev, int type, int counter, unsigned long long *n)
{
    DEVICE_CALL("nvmlDeviceGetTotalEccErrors")
    if (type < 0 || type > 1 || counter < 0 || counter > 1 || n == NULL) {
        pthread_mutex_unlock(&g_lock);
        return R_INVALID_ARGUMENT;
    }
    *n = dev->ecc[type][counter];
    DONE
}

EXPORT nvret nvmlDeviceGetPersistenceMode(device_t dev, int *mode)
{
    DEVICE_CALL("nvmlDeviceGetPersistenceMode")
    if (mode == NULL) {
        pthread_mutex_unlock(&g_lock);
        return R_INVALID_ARGUMENT;
    }
    *mode = dev->persistence;
    DONE
}

EXPORT nvret nvmlEventSetCreate(event_set_t *set)
{
    enter("nvmlEventSetCreate", NULL);
    pthread_mutex_lock(&g_lock);
    nvret rc = system_check("nvmlEventSetCreate");
    if (rc == R_SUCCESS) {
        struct fake_set *s = calloc(1, sizeof *s);
        if (s == NULL) {
            rc = R_UNKNOWN;
        } else {
            /* Events scripted before the set existed are lost, as with the real driver. */
            for (int i = 0; i < g_sc.nxids; i++) {
                if (g_sc.xids[i].seq > s->last_seq) {
                    s->last_seq = g_sc.xids[i].seq;
                }
            }
            *set = s;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

EXPORT nvret nvmlDeviceRegisterEvents(device_t dev, unsigned long long mask, event_set_t set)
{
    DEVICE_CALL("nvmlDeviceRegisterEvents")
    if (set == NULL) {
        pthread_mutex_unlock(&g_lock);
        return R_INVALID_ARGUMENT;
    }
    set->mask[dev->index] |= mask;
    DONE
}

static nvret wait_event(const char *fname, event_set_t set, event_data_t *data, unsigned int timeout_ms)
{
    enter(fname, NULL);
    if (set == NULL || data == NULL) {
        return R_INVALID_ARGUMENT;
    }
    unsigned long long deadline = now_us() + (unsigned long long)timeout_ms * 1000ULL;
    for (;;) {
        pthread_mutex_lock(&g_lock);
        reload();
        if (g_init_refs == 0) {
            pthread_mutex_unlock(&g_lock);
            return R_UNINITIALIZED;
        }
        int best = -1;
        for (int i = 0; i < g_sc.nxids; i++) {
            if (g_sc.xids[i].seq > set->last_seq && (best < 0 || g_sc.xids[i].seq < g_sc.xids[best].seq)) {
                best = i;
            }
        }
        if (best >= 0) {
            int gpu = g_sc.xids[best].gpu;
            set->last_seq = g_sc.xids[best].seq;
            if (gpu >= 0 && gpu < MAX_GPUS && (set->mask[gpu] & 0x8ULL) != 0) {
                memset(data, 0, sizeof *data);
                data->device = &g_gpus[gpu];
                data->eventType = 0x8ULL;
                data->eventData = g_sc.xids[best].code;
                data->gpuInstanceId = 0xFFFFFFFFu;
                data->computeInstanceId = 0xFFFFFFFFu;
                pthread_mutex_unlock(&g_lock);
                return R_SUCCESS;
            }
            pthread_mutex_unlock(&g_lock);
            continue; /* not registered for this GPU: the event is lost */
        }
        pthread_mutex_unlock(&g_lock);
        if (now_us() >= deadline) {
            return R_TIMEOUT;
        }
        usleep(5000);
    }
}

EXPORT nvret nvmlEventSetWait(event_set_t set, event_data_t *data, unsigned int timeout_ms) { return wait_event("nvmlEventSetWait", set, data, timeout_ms); }
#ifndef FAKE_NVML_LEGACY
EXPORT nvret nvmlEventSetWait_v2(event_set_t set, event_data_t *data, unsigned int timeout_ms) { return wait_event("nvmlEventSetWait_v2", set, data, timeout_ms); }
#endif

EXPORT nvret nvmlEventSetFree(event_set_t set)
{
    enter("nvmlEventSetFree", NULL);
    free(set);
    return R_SUCCESS;
}
