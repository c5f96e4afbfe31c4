using System.Globalization;
using EfaAgent.Collectors.Nvml;

namespace EfaAgent.Collectors.Gpu;

/// <summary>
/// One GPU of <see cref="SimulatedNvml"/>: its readings follow the node's job script (utilisation, and
/// power, temperature and clocks from it), its energy and NVLink/PCIe byte counters integrate over
/// simulated time, and it answers GPU_IS_LOST once the script has lost it.
/// </summary>
internal sealed class SimulatedNvmlDevice(SimulatedNvml owner, int index) : INvmlDevice
{
    private readonly object _lock = new();
    private double _lastT;
    private double _energyMj = 3.6e9 * (1 + (index * 0.01));
    private double _nvlinkKib;
    private double _pcieTx;
    private double _pcieRx;

    public NvmlReturn GetUuid(out string uuid)
    {
        if (owner.IsLost(index))
        {
            uuid = "";
            return NvmlReturn.GpuIsLost;
        }

        uuid = string.Create(CultureInfo.InvariantCulture, $"GPU-simulated-{index:x8}");
        return NvmlReturn.Success;
    }

    public NvmlReturn GetName(out string name)
    {
        if (owner.IsLost(index))
        {
            name = "";
            return NvmlReturn.GpuIsLost;
        }

        name = "NVIDIA H100 80GB HBM3 (simulated)";
        return NvmlReturn.Success;
    }

    public NvmlReturn GetPciInfo(out NvmlPciInfo info)
    {
        if (owner.IsLost(index))
        {
            info = new NvmlPciInfo("", 0, 0, 0, 0, 0);
            return NvmlReturn.GpuIsLost;
        }

        var bus = (uint)(0x53 + (index * 0x10));
        info = new NvmlPciInfo(string.Create(CultureInfo.InvariantCulture, $"simulated-00000000:{bus:X2}:00.0"), 0, bus, 0, 0x233010DE, 0x16C110DE);
        return NvmlReturn.Success;
    }

    public NvmlReturn GetUtilizationRates(out NvmlUtilization utilization)
    {
        if (owner.IsLost(index))
        {
            utilization = default;
            return NvmlReturn.GpuIsLost;
        }

        var u = owner.Utilization(owner.Seconds, index);
        utilization = new NvmlUtilization((uint)Math.Round(u * 100), (uint)Math.Round(u * 45));
        return NvmlReturn.Success;
    }

    public NvmlReturn GetMemoryInfo(out NvmlMemory memory)
    {
        if (owner.IsLost(index))
        {
            memory = default;
            return NvmlReturn.GpuIsLost;
        }

        var used = (ulong)((71.5 + Math.Sin(owner.Seconds / 7 + index)) * (1UL << 30));
        memory = new NvmlMemory(SimulatedNvml.MemoryTotal, SimulatedNvml.MemoryTotal - used, used);
        return NvmlReturn.Success;
    }

    public NvmlReturn GetPcieLink(NvmlPcieLink query, out uint value)
    {
        value = query is NvmlPcieLink.CurrentGeneration or NvmlPcieLink.MaxGeneration ? 5U : 16U;
        return owner.IsLost(index) ? NvmlReturn.GpuIsLost : NvmlReturn.Success;
    }

    public NvmlReturn GetNvLinkState(int link, out bool active)
    {
        active = link >= 0 && link < SimulatedNvml.Links;
        return owner.IsLost(index) ? NvmlReturn.GpuIsLost : active ? NvmlReturn.Success : NvmlReturn.InvalidArgument;
    }

    public NvmlReturn GetPowerUsage(out uint milliwatts)
    {
        if (owner.IsLost(index))
        {
            milliwatts = default;
            return NvmlReturn.GpuIsLost;
        }

        milliwatts = (uint)(Power(owner.Seconds) * 1000);
        return NvmlReturn.Success;
    }

    public NvmlReturn GetTotalEnergyConsumption(out ulong millijoules)
    {
        if (owner.IsLost(index))
        {
            millijoules = default;
            return NvmlReturn.GpuIsLost;
        }

        Advance();
        lock (_lock)
        {
            millijoules = (ulong)_energyMj;
        }

        return NvmlReturn.Success;
    }

    public NvmlReturn GetTemperature(NvmlTemperatureSensor sensor, out uint celsius)
    {
        if (owner.IsLost(index))
        {
            celsius = default;
            return NvmlReturn.GpuIsLost;
        }

        celsius = (uint)Math.Round(Temperature(owner.Seconds));
        return NvmlReturn.Success;
    }

    public NvmlReturn GetClockInfo(NvmlClockType type, out uint megahertz)
    {
        if (owner.IsLost(index))
        {
            megahertz = default;
            return NvmlReturn.GpuIsLost;
        }

        megahertz = type switch
        {
            NvmlClockType.Memory => 2619,
            NvmlClockType.Video => 1755,
            _ => index == owner.StragglerGpu ? 1110u : owner.Utilization(owner.Seconds, index) < 0.1 ? 345u : Temperature(owner.Seconds) > 72 ? 1755u : 1980u,
        };
        return NvmlReturn.Success;
    }

    public NvmlReturn GetClocksEventReasons(out ulong reasons)
    {
        if (owner.IsLost(index))
        {
            reasons = default;
            return NvmlReturn.GpuIsLost;
        }

        var t = owner.Seconds;
        var r = NvmlClocksEventReasons.None;
        if (owner.Utilization(t, index) < 0.1)
        {
            r |= NvmlClocksEventReasons.GpuIdle;
        }

        if (Temperature(t) > 72)
        {
            r |= NvmlClocksEventReasons.SwThermalSlowdown;
        }

        if (index == owner.StragglerGpu)
        {
            // The straggler's cause: its clocks are held down by a hardware slowdown.
            r |= NvmlClocksEventReasons.HwSlowdown;
        }

        if (Power(t) > 660)
        {
            r |= NvmlClocksEventReasons.SwPowerCap;
        }

        reasons = (ulong)r;
        return NvmlReturn.Success;
    }

    public NvmlReturn GetFieldValues(Span<NvmlFieldValue> values)
    {
        if (owner.IsLost(index))
        {
            return NvmlReturn.GpuIsLost;
        }

        Advance();
        for (var i = 0; i < values.Length; i++)
        {
            // What the R580 header defines: 251-253 are the clock-event times, 269-271 power-smoothing
            // settings, nothing past 271; NVLink error fields take the link in scopeId.
            ref var v = ref values[i];
            v.ValueType = NvmlValueType.UnsignedLongLong;
            v.Result = v.FieldId switch
            {
                > 271 => NvmlReturn.NotSupported,
                38 or 45 or 52 or 59 when v.ScopeId >= SimulatedNvml.Links => NvmlReturn.InvalidArgument,
                _ => NvmlReturn.Success,
            };
            lock (_lock)
            {
                v.RawValue = v.FieldId switch
                {
                    82 => (ulong)Math.Round(Temperature(owner.Seconds) + 9),
                    91 => SimulatedNvml.Links,
                    138 or 139 => (ulong)_nvlinkKib,
                    197 => (ulong)_pcieTx,
                    198 => (ulong)_pcieRx,
                    >= 269 and <= 271 => v.FieldId - 268,
                    _ => 0,
                };
            }
        }

        return NvmlReturn.Success;
    }

    public NvmlReturn GetTotalEccErrors(NvmlMemoryErrorType errorType, NvmlEccCounterType counterType, out ulong count)
    {
        if (owner.IsLost(index))
        {
            count = default;
            return NvmlReturn.GpuIsLost;
        }

        count = 0;
        return NvmlReturn.Success;
    }

    public NvmlReturn GetComputeRunningProcesses(Span<NvmlProcessInfo> processes, out int count)
    {
        if (owner.IsLost(index))
        {
            count = default;
            return NvmlReturn.GpuIsLost;
        }

        count = 1;
        if (processes.IsEmpty)
        {
            return NvmlReturn.InsufficientSize;
        }

        GetMemoryInfo(out var memory);
        processes[0] = new NvmlProcessInfo((uint)(424200 + index), memory.Used - (600UL << 20));
        return NvmlReturn.Success;
    }

    private double Power(double t) => 95 + (580 * owner.Utilization(t, index)) + (6 * Math.Sin((t * 3.1) + index));

    private double Temperature(double t) => 38 + (30 * owner.Utilization(t, index)) + (index % 3);

    /// <summary>Integrates energy and bytes up to now.</summary>
    private void Advance()
    {
        var t = owner.Seconds;
        lock (_lock)
        {
            var dt = t - _lastT;
            if (dt <= 0)
            {
                return;
            }

            _lastT = t;
            _energyMj += Power(t) * dt * 1000;
            if (SimulatedNvml.Communicating(t))
            {
                _nvlinkKib += 150e9 / 1024 * dt;
            }

            _pcieTx += (SimulatedNvml.Checkpointing(t) ? 12e9 : 0.2e9) * dt;
            _pcieRx += 0.6e9 * dt;
        }
    }
}
