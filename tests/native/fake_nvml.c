/*
 * fake_nvml.c: a stand-in for libnvidia-ml.so.1 that the tests load through the agent's real
 * binding. It exports the entry points the agent resolves, with the signatures and struct layouts
 * of nvml.h (API version 13, x86-64; declared here from the documented layouts, not copied from NVIDIA's header),
 * and plays a scenario file so a test can script GPUs, values, per-call errors, lost GPUs, Xid
 * events and calls that hang, and change them while the agent runs.
 *
 * Build: cc -shared -fPIC -O2 -o <dir>/libnvidia-ml.so.1 fake_nvml*.c -lpthread
 *        (this file: the scenario; fake_nvml_system.c: init, errors, the device list;
 *        fake_nvml_device.c: per-GPU values; fake_nvml_events.c: processes, ECC, persistence and
 *        Xid events)
 *        add -DFAKE_NVML_LEGACY for an old driver: only the unversioned/older entry points, and no
 *        nvmlDeviceGetTotalEnergyConsumption.
 *
 * The scenario file is $FAKE_NVML_SCENARIO, or else "fake_nvml.scenario" next to the loaded library
 * (so that each copy of the library a test loads has its own). It is re-read whenever its inode,
 * size or mtime changes. One directive per line, '#' starts a comment, later lines win:
 *
 *   init <code>                    nvmlInit return code (default 0)
 *   count <n>                      number of GPUs (default 8, at most 64)
 *   driver <text> / nvml <text>    system driver / NVML version strings
 *   throttle_fields <251|269>      the ids the clock-event times answer at, whatever the branch (an
 *                                  H200 on driver 580.159.04 answers them at 269-271, and 251-253 NOT_SUPPORTED)
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
 *                                  throttle_hw_thermal throttle_hw_power_brake (ns)
 *                                  pcie_gen pcie_gen_max pcie_width pcie_width_max (default 5 5 16 16)
 *                                  nvlink_down (bit mask of links nvmlDeviceGetNvLinkState says are down)
 *
 * Field ids answer the way the header of the driver's branch (the major version of `driver`, default
 * 999 = newest) defines them, and NOT_SUPPORTED where that header does not define the id:
 *   197/198 PCIE_COUNT_TX/RX_BYTES         from R555
 *   251-253                                 R575-R589: CLOCKS_EVENT_REASON_SW_THERMAL / HW_THERMAL /
 *                                           HW_POWER_BRAKE time (ns); R590+: PWR_SMOOTHING_* settings
 *   269-271                                 R575-R589: PWR_SMOOTHING_* settings; R590+: the three
 *                                           clock-event times (unless throttle_fields says otherwise)
 *   199-271 otherwise                       from R575 (their values are whatever `field` set)
 *   above 271                               not defined
 *   38/45/52/59 NVLink error totals         scopeId is the link (13.x header); a scope at or past the
 *                                           link count (UINT_MAX included) is INVALID_ARGUMENT
 * A power-smoothing setting reads as a small number (1, 2, 3): exported as throttle seconds it would
 * be a wrong value that a test can see.
 *   <gpu|*> procs <pid>:<bytes> ...   running compute processes
 *
 * fake_nvml_calls(name) returns how many times an entry point was called (for batching tests);
 * fake_nvml_calls("field <id>") how many entries of nvmlDeviceGetFieldValues asked for that field.
 */
#include "fake_nvml.h"

pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
struct fake_gpu g_gpus[MAX_GPUS]; /* handles point here and stay valid across reloads */
struct scenario g_sc;
unsigned long long g_field_asks[MAX_FIELDS];
static int g_loaded;
int g_init_refs;
static char g_path[4096];
static struct stat g_stat;
static int g_stat_valid;

static struct { const char *name; unsigned long long n; } g_calls[64];

void count_call(const char *name)
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
    if (strncmp(name, "field ", 6) == 0) {
        int id = atoi(name + 6);
        n = id >= 0 && id < MAX_FIELDS ? g_field_asks[id] : 0;
        pthread_mutex_unlock(&g_lock);
        return n;
    }
    for (int i = 0; i < 64 && g_calls[i].name != NULL; i++) {
        if (strcmp(g_calls[i].name, name) == 0) {
            n = g_calls[i].n;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return n;
}

unsigned long long now_us(void)
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
        g->pcie[0] = g->pcie[1] = 5;
        g->pcie[2] = g->pcie[3] = 16;
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
    } else if (strcmp(w0, "throttle_fields") == 0 && n >= 2) {
        g_sc.throttle_fields = (unsigned)atoi(w1) == 269 ? 269 : 251;
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
void reload(void)
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
