/* fake_nvml_system.c: nvmlInit/Shutdown, error strings, the driver and NVML versions and the device list (see fake_nvml.c). */
#include "fake_nvml.h"

void enter(const char *name, device_t dev)
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

int valid_device(device_t dev)
{
    return dev != NULL && dev >= &g_gpus[0] && dev < &g_gpus[MAX_GPUS] && dev->index < g_sc.count;
}

/* Called with g_lock held: the return code a device call gets before doing anything. */
nvret device_check(const char *name, device_t dev)
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
nvret system_check(const char *name)
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
