/* The installed nvml.h beside the binding: struct sizes and offsets (src/Collectors/Interop/NvmlInterop.cs)
 * and the field ids of src/Collectors/Gpu/GpuMetrics.cs.
 *   cc -I/usr/local/cuda/include -o /tmp/layout bench/nvml/layout.c && /tmp/layout
 */
#include <stddef.h>
#include <stdio.h>
#include <nvml.h>
#define S(t, want) printf("%-24s size %3zu (binding %3d)%s\n", #t, sizeof(t), want, sizeof(t) == want ? "" : "  MISMATCH")
#define O(t, f, want) printf("  %-22s @%3zu (binding %3d)%s\n", #f, offsetof(t, f), want, offsetof(t, f) == want ? "" : "  MISMATCH")
#define F(name, want) printf("%-52s %4d (binding %4d)%s\n", #name, name, want, name == want ? "" : "  MISMATCH")
int main(void)
{
    S(nvmlPciInfo_t, 68); O(nvmlPciInfo_t, domain, 16); O(nvmlPciInfo_t, pciDeviceId, 28); O(nvmlPciInfo_t, busId, 36);
    S(nvmlUtilization_t, 8);
    S(nvmlMemory_v2_t, 40); O(nvmlMemory_v2_t, total, 8); O(nvmlMemory_v2_t, free, 24); O(nvmlMemory_v2_t, used, 32);
    printf("nvmlMemory_v2 version 0x%08x (binding 0x02000028)\n", (unsigned)nvmlMemory_v2);
    S(nvmlMemory_t, 24);
    S(nvmlProcessInfo_t, 24); O(nvmlProcessInfo_t, usedGpuMemory, 8); O(nvmlProcessInfo_t, gpuInstanceId, 16);
    S(nvmlFieldValue_t, 40); O(nvmlFieldValue_t, timestamp, 8); O(nvmlFieldValue_t, latencyUsec, 16); O(nvmlFieldValue_t, valueType, 24); O(nvmlFieldValue_t, nvmlReturn, 28); O(nvmlFieldValue_t, value, 32);
    S(nvmlEventData_t, 32); O(nvmlEventData_t, eventType, 8); O(nvmlEventData_t, eventData, 16);
    F(NVML_FI_DEV_ECC_CURRENT, 1);
    F(NVML_FI_DEV_ECC_SBE_VOL_TOTAL, 3); F(NVML_FI_DEV_ECC_DBE_VOL_TOTAL, 4);
    F(NVML_FI_DEV_RETIRED_SBE, 29); F(NVML_FI_DEV_RETIRED_DBE, 30); F(NVML_FI_DEV_RETIRED_PENDING, 31);
    F(NVML_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL, 38); F(NVML_FI_DEV_NVLINK_CRC_DATA_ERROR_COUNT_TOTAL, 45);
    F(NVML_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL, 52); F(NVML_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL, 59);
    F(NVML_FI_DEV_PERF_POLICY_POWER, 74); F(NVML_FI_DEV_PERF_POLICY_THERMAL, 75); F(NVML_FI_DEV_PERF_POLICY_SYNC_BOOST, 76);
    F(NVML_FI_DEV_MEMORY_TEMP, 82); F(NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION, 83); F(NVML_FI_DEV_NVLINK_LINK_COUNT, 91); F(NVML_FI_DEV_PCIE_REPLAY_COUNTER, 94);
    F(NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX, 138); F(NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_RX, 139);
    F(NVML_FI_DEV_REMAPPED_COR, 142); F(NVML_FI_DEV_REMAPPED_UNC, 143); F(NVML_FI_DEV_REMAPPED_PENDING, 144); F(NVML_FI_DEV_REMAPPED_FAILURE, 145);
    F(NVML_FI_DEV_POWER_AVERAGE, 185); F(NVML_FI_DEV_POWER_INSTANT, 186);
    F(NVML_FI_DEV_PCIE_COUNT_TX_BYTES, 197); F(NVML_FI_DEV_PCIE_COUNT_RX_BYTES, 198);
    F(NVML_FI_DEV_CLOCKS_EVENT_REASON_SW_THERM_SLOWDOWN, 269); F(NVML_FI_DEV_CLOCKS_EVENT_REASON_HW_THERM_SLOWDOWN, 270);
    F(NVML_FI_DEV_CLOCKS_EVENT_REASON_HW_POWER_BRAKE_SLOWDOWN, 271);
    F(NVML_FI_PWR_SMOOTHING_ENABLED, 251);
    printf("event masks: SBE 0x%llx DBE 0x%llx Xid 0x%llx\n", (unsigned long long)nvmlEventTypeSingleBitEccError, (unsigned long long)nvmlEventTypeDoubleBitEccError, (unsigned long long)nvmlEventTypeXidCriticalError);
    return 0;
}
