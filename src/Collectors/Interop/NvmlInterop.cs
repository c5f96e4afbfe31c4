using System.Runtime.InteropServices;

namespace EfaAgent.Collectors.Interop;

/// <summary>Native entry points, one nested class per native library.</summary>
internal static partial class Interop
{
    /// <summary>
    /// <c>libnvidia-ml.so.1</c>. The library is loaded at run time from a configurable path with
    /// <see cref="NativeLibrary"/> and every entry point is a function pointer resolved from it, so that a
    /// missing library or an old driver that lacks a versioned entry point is a result code, never a
    /// crash. Struct layouts follow nvml.h (API version 13, x86-64) and are pinned by tests. Everything here is
    /// raw; <see cref="NvmlLibrary"/> is the safe wrapper.
    /// </summary>
    internal static unsafe partial class Nvml
    {
        /// <summary>The versioned soname: hosts and containers often lack the unversioned symlink.</summary>
        internal const string LibraryName = "libnvidia-ml.so.1";

        /// <summary><c>nvmlMemory_v2</c>: the struct size (40) with version 2 in the top byte, 0x02000028.</summary>
        internal const uint MemoryV2Version = 40 | (2 << 24);

        /// <summary>Buffer size for UUIDs and names (NVML's own constants are 80 and 96).</summary>
        internal const int DeviceStringBufferSize = 96;

        /// <summary>Buffer size for the driver and NVML version strings.</summary>
        internal const int SystemStringBufferSize = 80;

        /// <summary><c>nvmlPciInfo_t</c>, 68 bytes.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct PciInfo
        {
            public fixed byte BusIdLegacy[16];
            public uint Domain;
            public uint Bus;
            public uint Device;
            public uint PciDeviceId;
            public uint PciSubSystemId;
            public fixed byte BusId[32];
        }

        /// <summary><c>nvmlUtilization_t</c>, 8 bytes.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct Utilization
        {
            public uint Gpu;
            public uint Memory;
        }

        /// <summary><c>nvmlMemory_v2_t</c>, 40 bytes; <see cref="Version"/> must be <see cref="MemoryV2Version"/>.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct MemoryV2
        {
            public uint Version;
            public ulong Total;
            public ulong Reserved;
            public ulong Free;
            public ulong Used;
        }

        /// <summary><c>nvmlMemory_t</c> (version 1), 24 bytes.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct MemoryV1
        {
            public ulong Total;
            public ulong Free;
            public ulong Used;
        }

        /// <summary><c>nvmlProcessInfo_t</c> as <c>..._v2</c> and <c>..._v3</c> fill it, 24 bytes.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct ProcessInfo
        {
            public uint Pid;
            public ulong UsedGpuMemory;
            public uint GpuInstanceId;
            public uint ComputeInstanceId;
        }

        /// <summary><c>nvmlFieldValue_t</c>, 40 bytes.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct FieldValue
        {
            public uint FieldId;
            public uint ScopeId;
            public long Timestamp;
            public long LatencyUsec;
            public int ValueType;
            public int NvmlReturn;
            public ulong Value;
        }

        /// <summary><c>nvmlEventData_t</c>, 32 bytes (version 1 stops after <see cref="EventData"/>; the buffer fits both).</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct EventData
        {
            public nint Device;
            public ulong EventType;
            public ulong Data;
            public uint GpuInstanceId;
            public uint ComputeInstanceId;
        }

        /// <summary>
        /// The entry points of one loaded library. Each versioned name falls back to the older one where
        /// the signature is the same; an entry point neither name resolves is null, and its method returns
        /// <c>NVML_ERROR_FUNCTION_NOT_FOUND</c>.
        /// </summary>
        internal sealed class EntryPoints
        {
            private const int FunctionNotFound = 13;

            private readonly List<string> _resolved = [];
            private readonly List<string> _missing = [];

            private readonly delegate* unmanaged[Cdecl]<int> _init;
            private readonly delegate* unmanaged[Cdecl]<int> _shutdown;
            private readonly delegate* unmanaged[Cdecl]<int, byte*> _errorString;
            private readonly delegate* unmanaged[Cdecl]<byte*, uint, int> _systemGetDriverVersion;
            private readonly delegate* unmanaged[Cdecl]<byte*, uint, int> _systemGetNvmlVersion;
            private readonly delegate* unmanaged[Cdecl]<uint*, int> _deviceGetCount;
            private readonly delegate* unmanaged[Cdecl]<uint, nint*, int> _deviceGetHandleByIndex;
            private readonly delegate* unmanaged[Cdecl]<nint, byte*, uint, int> _deviceGetUuid;
            private readonly delegate* unmanaged[Cdecl]<nint, byte*, uint, int> _deviceGetName;
            private readonly delegate* unmanaged[Cdecl]<nint, PciInfo*, int> _deviceGetPciInfo;
            private readonly delegate* unmanaged[Cdecl]<nint, Utilization*, int> _deviceGetUtilizationRates;
            private readonly delegate* unmanaged[Cdecl]<nint, MemoryV2*, int> _deviceGetMemoryInfoV2;
            private readonly delegate* unmanaged[Cdecl]<nint, MemoryV1*, int> _deviceGetMemoryInfoV1;
            private readonly delegate* unmanaged[Cdecl]<nint, uint*, int> _deviceGetPowerUsage;
            private readonly delegate* unmanaged[Cdecl]<nint, ulong*, int> _deviceGetTotalEnergyConsumption;
            private readonly delegate* unmanaged[Cdecl]<nint, int, uint*, int> _deviceGetTemperature;
            private readonly delegate* unmanaged[Cdecl]<nint, int, uint*, int> _deviceGetClockInfo;
            private readonly delegate* unmanaged[Cdecl]<nint, ulong*, int> _deviceGetCurrentClocksEventReasons;
            private readonly delegate* unmanaged[Cdecl]<nint, int, FieldValue*, int> _deviceGetFieldValues;
            private readonly delegate* unmanaged[Cdecl]<nint, uint*, ProcessInfo*, int> _deviceGetComputeRunningProcesses;
            private readonly delegate* unmanaged[Cdecl]<nint, int, int, ulong*, int> _deviceGetTotalEccErrors;
            private readonly delegate* unmanaged[Cdecl]<nint, uint*, int> _deviceGetCurrPcieLinkGeneration;
            private readonly delegate* unmanaged[Cdecl]<nint, uint*, int> _deviceGetMaxPcieLinkGeneration;
            private readonly delegate* unmanaged[Cdecl]<nint, uint*, int> _deviceGetCurrPcieLinkWidth;
            private readonly delegate* unmanaged[Cdecl]<nint, uint*, int> _deviceGetMaxPcieLinkWidth;
            private readonly delegate* unmanaged[Cdecl]<nint, uint, int*, int> _deviceGetNvLinkState;
            private readonly delegate* unmanaged[Cdecl]<nint*, int> _eventSetCreate;
            private readonly delegate* unmanaged[Cdecl]<nint, ulong, nint, int> _deviceRegisterEvents;
            private readonly delegate* unmanaged[Cdecl]<nint, EventData*, uint, int> _eventSetWait;
            private readonly delegate* unmanaged[Cdecl]<nint, int> _eventSetFree;

            /// <summary>Resolves every entry point from a loaded library.</summary>
            internal EntryPoints(nint library)
            {
                _init = (delegate* unmanaged[Cdecl]<int>)Resolve(library, "nvmlInit_v2", "nvmlInit");
                _shutdown = (delegate* unmanaged[Cdecl]<int>)Resolve(library, "nvmlShutdown");
                _errorString = (delegate* unmanaged[Cdecl]<int, byte*>)Resolve(library, "nvmlErrorString");
                _systemGetDriverVersion = (delegate* unmanaged[Cdecl]<byte*, uint, int>)Resolve(library, "nvmlSystemGetDriverVersion");
                _systemGetNvmlVersion = (delegate* unmanaged[Cdecl]<byte*, uint, int>)Resolve(library, "nvmlSystemGetNVMLVersion");
                _deviceGetCount = (delegate* unmanaged[Cdecl]<uint*, int>)Resolve(library, "nvmlDeviceGetCount_v2", "nvmlDeviceGetCount");
                _deviceGetHandleByIndex = (delegate* unmanaged[Cdecl]<uint, nint*, int>)Resolve(library, "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex");
                _deviceGetUuid = (delegate* unmanaged[Cdecl]<nint, byte*, uint, int>)Resolve(library, "nvmlDeviceGetUUID");
                _deviceGetName = (delegate* unmanaged[Cdecl]<nint, byte*, uint, int>)Resolve(library, "nvmlDeviceGetName");

                // v1 of nvmlPciInfo_t has another layout: only v3 and v2 (the same struct) are used.
                _deviceGetPciInfo = (delegate* unmanaged[Cdecl]<nint, PciInfo*, int>)Resolve(library, "nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v2");
                _deviceGetUtilizationRates = (delegate* unmanaged[Cdecl]<nint, Utilization*, int>)Resolve(library, "nvmlDeviceGetUtilizationRates");
                _deviceGetMemoryInfoV2 = (delegate* unmanaged[Cdecl]<nint, MemoryV2*, int>)Resolve(library, "nvmlDeviceGetMemoryInfo_v2");
                _deviceGetMemoryInfoV1 = (delegate* unmanaged[Cdecl]<nint, MemoryV1*, int>)Resolve(library, "nvmlDeviceGetMemoryInfo");
                _deviceGetPowerUsage = (delegate* unmanaged[Cdecl]<nint, uint*, int>)Resolve(library, "nvmlDeviceGetPowerUsage");
                _deviceGetTotalEnergyConsumption = (delegate* unmanaged[Cdecl]<nint, ulong*, int>)Resolve(library, "nvmlDeviceGetTotalEnergyConsumption");
                _deviceGetTemperature = (delegate* unmanaged[Cdecl]<nint, int, uint*, int>)Resolve(library, "nvmlDeviceGetTemperature");
                _deviceGetClockInfo = (delegate* unmanaged[Cdecl]<nint, int, uint*, int>)Resolve(library, "nvmlDeviceGetClockInfo");
                _deviceGetCurrentClocksEventReasons = (delegate* unmanaged[Cdecl]<nint, ulong*, int>)Resolve(library,
                    "nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons");
                _deviceGetFieldValues = (delegate* unmanaged[Cdecl]<nint, int, FieldValue*, int>)Resolve(library, "nvmlDeviceGetFieldValues");

                // v1 of nvmlProcessInfo_t is 16 bytes: only v3 and v2 (the 24-byte struct) are used.
                _deviceGetComputeRunningProcesses = (delegate* unmanaged[Cdecl]<nint, uint*, ProcessInfo*, int>)Resolve(library,
                    "nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetComputeRunningProcesses_v2");
                _deviceGetTotalEccErrors = (delegate* unmanaged[Cdecl]<nint, int, int, ulong*, int>)Resolve(library, "nvmlDeviceGetTotalEccErrors");
                _deviceGetCurrPcieLinkGeneration = (delegate* unmanaged[Cdecl]<nint, uint*, int>)Resolve(library, "nvmlDeviceGetCurrPcieLinkGeneration");
                _deviceGetMaxPcieLinkGeneration = (delegate* unmanaged[Cdecl]<nint, uint*, int>)Resolve(library, "nvmlDeviceGetMaxPcieLinkGeneration");
                _deviceGetCurrPcieLinkWidth = (delegate* unmanaged[Cdecl]<nint, uint*, int>)Resolve(library, "nvmlDeviceGetCurrPcieLinkWidth");
                _deviceGetMaxPcieLinkWidth = (delegate* unmanaged[Cdecl]<nint, uint*, int>)Resolve(library, "nvmlDeviceGetMaxPcieLinkWidth");
                _deviceGetNvLinkState = (delegate* unmanaged[Cdecl]<nint, uint, int*, int>)Resolve(library, "nvmlDeviceGetNvLinkState");
                _eventSetCreate = (delegate* unmanaged[Cdecl]<nint*, int>)Resolve(library, "nvmlEventSetCreate");
                _deviceRegisterEvents = (delegate* unmanaged[Cdecl]<nint, ulong, nint, int>)Resolve(library, "nvmlDeviceRegisterEvents");

                // v1 of nvmlEventData_t is a prefix of v2: the same buffer serves both.
                _eventSetWait = (delegate* unmanaged[Cdecl]<nint, EventData*, uint, int>)Resolve(library, "nvmlEventSetWait_v2", "nvmlEventSetWait");
                _eventSetFree = (delegate* unmanaged[Cdecl]<nint, int>)Resolve(library, "nvmlEventSetFree");
            }

            /// <summary>The names resolved, in the order asked.</summary>
            internal IReadOnlyList<string> Resolved => _resolved;

            /// <summary>Entry points for which no name resolved (each as "name|fallback").</summary>
            internal IReadOnlyList<string> Missing => _missing;

            /// <summary>Whether the library has an init entry point at all (if not, it is not NVML).</summary>
            internal bool HasInit => _init != null;

            /// <summary>Whether the version 2 memory query exists.</summary>
            internal bool HasMemoryInfoV2 => _deviceGetMemoryInfoV2 != null;

            internal int Init() => _init == null ? FunctionNotFound : _init();

            internal int Shutdown() => _shutdown == null ? FunctionNotFound : _shutdown();

            internal byte* ErrorString(int result) => _errorString == null ? null : _errorString(result);

            internal int SystemGetDriverVersion(byte* buffer, uint length) =>
                _systemGetDriverVersion == null ? FunctionNotFound : _systemGetDriverVersion(buffer, length);

            internal int SystemGetNvmlVersion(byte* buffer, uint length) =>
                _systemGetNvmlVersion == null ? FunctionNotFound : _systemGetNvmlVersion(buffer, length);

            internal int DeviceGetCount(uint* count) => _deviceGetCount == null ? FunctionNotFound : _deviceGetCount(count);

            internal int DeviceGetHandleByIndex(uint index, nint* device) =>
                _deviceGetHandleByIndex == null ? FunctionNotFound : _deviceGetHandleByIndex(index, device);

            internal int DeviceGetUuid(nint device, byte* buffer, uint length) =>
                _deviceGetUuid == null ? FunctionNotFound : _deviceGetUuid(device, buffer, length);

            internal int DeviceGetName(nint device, byte* buffer, uint length) =>
                _deviceGetName == null ? FunctionNotFound : _deviceGetName(device, buffer, length);

            internal int DeviceGetPciInfo(nint device, PciInfo* info) =>
                _deviceGetPciInfo == null ? FunctionNotFound : _deviceGetPciInfo(device, info);

            internal int DeviceGetUtilizationRates(nint device, Utilization* utilization) =>
                _deviceGetUtilizationRates == null ? FunctionNotFound : _deviceGetUtilizationRates(device, utilization);

            internal int DeviceGetMemoryInfoV2(nint device, MemoryV2* memory) =>
                _deviceGetMemoryInfoV2 == null ? FunctionNotFound : _deviceGetMemoryInfoV2(device, memory);

            internal int DeviceGetMemoryInfoV1(nint device, MemoryV1* memory) =>
                _deviceGetMemoryInfoV1 == null ? FunctionNotFound : _deviceGetMemoryInfoV1(device, memory);

            /// <summary>One of the four PCIe link queries (current/max generation/width).</summary>
            internal int DeviceGetPcieLink(nint device, int query, uint* value)
            {
                var f = query switch
                {
                    0 => _deviceGetCurrPcieLinkGeneration,
                    1 => _deviceGetMaxPcieLinkGeneration,
                    2 => _deviceGetCurrPcieLinkWidth,
                    _ => _deviceGetMaxPcieLinkWidth,
                };
                return f == null ? FunctionNotFound : f(device, value);
            }

            internal int DeviceGetNvLinkState(nint device, uint link, int* isActive) =>
                _deviceGetNvLinkState == null ? FunctionNotFound : _deviceGetNvLinkState(device, link, isActive);

            internal int DeviceGetPowerUsage(nint device, uint* milliwatts) =>
                _deviceGetPowerUsage == null ? FunctionNotFound : _deviceGetPowerUsage(device, milliwatts);

            internal int DeviceGetTotalEnergyConsumption(nint device, ulong* millijoules) =>
                _deviceGetTotalEnergyConsumption == null ? FunctionNotFound : _deviceGetTotalEnergyConsumption(device, millijoules);

            internal int DeviceGetTemperature(nint device, int sensor, uint* celsius) =>
                _deviceGetTemperature == null ? FunctionNotFound : _deviceGetTemperature(device, sensor, celsius);

            internal int DeviceGetClockInfo(nint device, int type, uint* megahertz) =>
                _deviceGetClockInfo == null ? FunctionNotFound : _deviceGetClockInfo(device, type, megahertz);

            internal int DeviceGetCurrentClocksEventReasons(nint device, ulong* reasons) =>
                _deviceGetCurrentClocksEventReasons == null ? FunctionNotFound : _deviceGetCurrentClocksEventReasons(device, reasons);

            internal int DeviceGetFieldValues(nint device, int count, FieldValue* values) =>
                _deviceGetFieldValues == null ? FunctionNotFound : _deviceGetFieldValues(device, count, values);

            internal int DeviceGetComputeRunningProcesses(nint device, uint* count, ProcessInfo* infos) =>
                _deviceGetComputeRunningProcesses == null ? FunctionNotFound : _deviceGetComputeRunningProcesses(device, count, infos);

            internal int DeviceGetTotalEccErrors(nint device, int errorType, int counterType, ulong* count) =>
                _deviceGetTotalEccErrors == null ? FunctionNotFound : _deviceGetTotalEccErrors(device, errorType, counterType, count);

            internal int EventSetCreate(nint* set) => _eventSetCreate == null ? FunctionNotFound : _eventSetCreate(set);

            internal int DeviceRegisterEvents(nint device, ulong eventTypes, nint set) =>
                _deviceRegisterEvents == null ? FunctionNotFound : _deviceRegisterEvents(device, eventTypes, set);

            internal int EventSetWait(nint set, EventData* data, uint timeoutMilliseconds) =>
                _eventSetWait == null ? FunctionNotFound : _eventSetWait(set, data, timeoutMilliseconds);

            internal int EventSetFree(nint set) => _eventSetFree == null ? FunctionNotFound : _eventSetFree(set);

            private nint Resolve(nint library, params string[] names)
            {
                foreach (var name in names)
                {
                    if (NativeLibrary.TryGetExport(library, name, out var address))
                    {
                        _resolved.Add(name);
                        return address;
                    }
                }

                _missing.Add(string.Join('|', names));
                return 0;
            }
        }
    }
}
