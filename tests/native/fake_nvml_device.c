/* fake_nvml_device.c: the per-GPU values: identity, PCI, utilisation, memory, power, energy, temperature, clocks, PCIe, NVLink, fields and samples (see fake_nvml.c). */
#include "fake_nvml.h"

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
    u->gpu = dev->util;
    u->memory = dev->memutil;
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
    unsigned int throttle = g_sc.throttle_fields ? g_sc.throttle_fields : major >= 590 ? 269 : 251;
    unsigned int smoothing = throttle == 269 ? 251 : 269;
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
        g_field_asks[id]++;
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

