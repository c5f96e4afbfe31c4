/* fake_nvml_events.c: running processes, ECC totals, persistence mode and Xid event sets (see fake_nvml.c). */
#include "fake_nvml.h"

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
