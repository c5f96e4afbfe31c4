using EfaAgent.Collectors.Nvml;
using Native = EfaAgent.Collectors.Interop.Interop.Nvml;

namespace EfaAgent.Collectors.Interop;

// One GPU of the library: the device entry points over its handle.
public sealed unsafe partial class NvmlLibrary
{
    private sealed class Device(Native.EntryPoints entry, nint handle) : INvmlDevice
    {
        private const int StackProcesses = 64;
        private bool _memoryV1;

        public nint Handle { get; } = handle;

        public NvmlReturn GetUuid(out string uuid)
        {
            var buffer = stackalloc byte[Native.DeviceStringBufferSize];
            var rc = (NvmlReturn)entry.DeviceGetUuid(Handle, buffer, Native.DeviceStringBufferSize);
            uuid = rc == NvmlReturn.Success ? ReadString(buffer, Native.DeviceStringBufferSize) : "";
            return rc;
        }

        public NvmlReturn GetName(out string name)
        {
            var buffer = stackalloc byte[Native.DeviceStringBufferSize];
            var rc = (NvmlReturn)entry.DeviceGetName(Handle, buffer, Native.DeviceStringBufferSize);
            name = rc == NvmlReturn.Success ? ReadString(buffer, Native.DeviceStringBufferSize) : "";
            return rc;
        }

        public NvmlReturn GetPciInfo(out NvmlPciInfo info)
        {
            Native.PciInfo pci = default;
            var rc = (NvmlReturn)entry.DeviceGetPciInfo(Handle, &pci);
            info = rc == NvmlReturn.Success
                ? new NvmlPciInfo(ReadString(pci.BusId, 32), pci.Domain, pci.Bus, pci.Device, pci.PciDeviceId, pci.PciSubSystemId)
                : new NvmlPciInfo("", 0, 0, 0, 0, 0);
            return rc;
        }

        public NvmlReturn GetUtilizationRates(out NvmlUtilization utilization)
        {
            Native.Utilization u = default;
            var rc = (NvmlReturn)entry.DeviceGetUtilizationRates(Handle, &u);
            utilization = new NvmlUtilization(u.Gpu, u.Memory);
            return rc;
        }

        public NvmlReturn GetMemoryInfo(out NvmlMemory memory)
        {
            if (!_memoryV1 && entry.HasMemoryInfoV2)
            {
                var v2 = new Native.MemoryV2 { Version = Native.MemoryV2Version };
                var rc2 = (NvmlReturn)entry.DeviceGetMemoryInfoV2(Handle, &v2);
                if (rc2 is not (NvmlReturn.FunctionNotFound or NvmlReturn.ArgumentVersionMismatch or NvmlReturn.NotSupported))
                {
                    memory = new NvmlMemory(v2.Total, v2.Free, v2.Used);
                    return rc2;
                }

                // A driver that exports the v2 name but does not take the v2 struct: use v1 from now on.
                _memoryV1 = true;
            }

            Native.MemoryV1 v1 = default;
            var rc = (NvmlReturn)entry.DeviceGetMemoryInfoV1(Handle, &v1);
            memory = new NvmlMemory(v1.Total, v1.Free, v1.Used);
            return rc;
        }

        public NvmlReturn GetPcieLink(NvmlPcieLink query, out uint value)
        {
            uint v = 0;
            var rc = (NvmlReturn)entry.DeviceGetPcieLink(Handle, (int)query, &v);
            value = v;
            return rc;
        }

        public NvmlReturn GetNvLinkState(int link, out bool active)
        {
            var state = 0;
            var rc = (NvmlReturn)entry.DeviceGetNvLinkState(Handle, (uint)link, &state);
            active = rc == NvmlReturn.Success && state != 0;
            return rc;
        }

        public NvmlReturn GetPowerUsage(out uint milliwatts)
        {
            uint value = 0;
            var rc = (NvmlReturn)entry.DeviceGetPowerUsage(Handle, &value);
            milliwatts = value;
            return rc;
        }

        public NvmlReturn GetTotalEnergyConsumption(out ulong millijoules)
        {
            ulong value = 0;
            var rc = (NvmlReturn)entry.DeviceGetTotalEnergyConsumption(Handle, &value);
            millijoules = value;
            return rc;
        }

        public NvmlReturn GetTemperature(NvmlTemperatureSensor sensor, out uint celsius)
        {
            uint value = 0;
            var rc = (NvmlReturn)entry.DeviceGetTemperature(Handle, (int)sensor, &value);
            celsius = value;
            return rc;
        }

        public NvmlReturn GetClockInfo(NvmlClockType type, out uint megahertz)
        {
            uint value = 0;
            var rc = (NvmlReturn)entry.DeviceGetClockInfo(Handle, (int)type, &value);
            megahertz = value;
            return rc;
        }

        public NvmlReturn GetClocksEventReasons(out ulong reasons)
        {
            ulong value = 0;
            var rc = (NvmlReturn)entry.DeviceGetCurrentClocksEventReasons(Handle, &value);
            reasons = value;
            return rc;
        }

        public NvmlReturn GetFieldValues(Span<NvmlFieldValue> values)
        {
            if (values.Length > NvmlFieldValue.MaxBatch)
            {
                throw new ArgumentOutOfRangeException(nameof(values), values.Length, $"at most {NvmlFieldValue.MaxBatch} fields per call");
            }

            if (values.IsEmpty)
            {
                return NvmlReturn.Success;
            }

            var native = stackalloc Native.FieldValue[values.Length];
            for (var i = 0; i < values.Length; i++)
            {
                native[i] = new Native.FieldValue { FieldId = values[i].FieldId, ScopeId = values[i].ScopeId };
            }

            var rc = (NvmlReturn)entry.DeviceGetFieldValues(Handle, values.Length, native);
            for (var i = 0; i < values.Length; i++)
            {
                ref var v = ref values[i];
                if (rc == NvmlReturn.Success)
                {
                    v.Result = (NvmlReturn)native[i].NvmlReturn;
                    v.ValueType = (NvmlValueType)native[i].ValueType;
                    v.RawValue = native[i].Value;
                }
                else
                {
                    v.Result = rc;
                    v.RawValue = 0;
                }
            }

            return rc;
        }

        public NvmlReturn GetTotalEccErrors(NvmlMemoryErrorType errorType, NvmlEccCounterType counterType, out ulong count)
        {
            ulong value = 0;
            var rc = (NvmlReturn)entry.DeviceGetTotalEccErrors(Handle, (int)errorType, (int)counterType, &value);
            count = value;
            return rc;
        }

        public NvmlReturn GetComputeRunningProcesses(Span<NvmlProcessInfo> processes, out int count)
        {
            var native = processes.Length <= StackProcesses
                ? stackalloc Native.ProcessInfo[Math.Max(processes.Length, 1)]
                : new Native.ProcessInfo[processes.Length];
            var n = (uint)processes.Length;
            NvmlReturn rc;
            fixed (Native.ProcessInfo* p = native)
            {
                rc = (NvmlReturn)entry.DeviceGetComputeRunningProcesses(Handle, &n, processes.IsEmpty ? null : p);
            }

            count = (int)Math.Min(n, int.MaxValue);
            if (rc == NvmlReturn.Success)
            {
                count = Math.Min(count, processes.Length);
                for (var i = 0; i < count; i++)
                {
                    processes[i] = new NvmlProcessInfo(native[i].Pid, native[i].UsedGpuMemory);
                }
            }

            return rc;
        }
    }
}
