using EfaAgent.Collectors.Nvml;
using M = EfaAgent.Collectors.Gpu.GpuMetrics;

namespace EfaAgent.Collectors.Gpu;

/// <summary>
/// The fast lane: what every tick reads from each GPU. Only calls the driver answers from what it already
/// holds (a few µs each on an H200) and the field batch (NVLink and PCIe bytes, ~0.15 ms a field there);
/// a call that makes the driver ask the GPU's firmware for milliseconds (total energy: 4 ms) is on the slow lane.
/// </summary>
internal sealed partial class GpuSampler
{
    private void SampleFast(GpuState g, double[] v)
    {
        var d = g.Device!;
        var b = g.Base;
        ReadUtilization(g, d, v);
        if (Stopped(g))
        {
            return;
        }

        var rc = d.GetMemoryInfo(out var memory);
        if (Ok(g, rc, M.MemorySlots, v))
        {
            v[b + M.OffMemoryUsed] = memory.Used;
            v[b + M.OffMemoryFree] = memory.Free;
            v[b + M.OffMemoryTotal] = memory.Total;
        }
        else if (Stopped(g))
        {
            return;
        }

        rc = d.GetPowerUsage(out var milliwatts);
        if (Ok(g, rc, M.OffPower, v))
        {
            v[b + M.OffPower] = milliwatts / 1000.0;
        }
        else if (Stopped(g))
        {
            return;
        }

        rc = d.GetTemperature(NvmlTemperatureSensor.Gpu, out var celsius);
        if (Ok(g, rc, M.OffTemperature, v))
        {
            v[b + M.OffTemperature] = celsius;
        }
        else if (Stopped(g))
        {
            return;
        }

        rc = d.GetClockInfo(NvmlClockType.Sm, out var sm);
        if (Ok(g, rc, M.OffSmClock, v))
        {
            v[b + M.OffSmClock] = sm * 1e6;
        }
        else if (Stopped(g))
        {
            return;
        }

        rc = d.GetClockInfo(NvmlClockType.Memory, out var mem);
        if (Ok(g, rc, M.OffMemoryClock, v))
        {
            v[b + M.OffMemoryClock] = mem * 1e6;
        }
        else if (Stopped(g))
        {
            return;
        }

        rc = d.GetClocksEventReasons(out var reasons);
        if (Ok(g, rc, M.ClockEventSlots, v))
        {
            for (var k = 0; k < M.ClockReasons.Length; k++)
            {
                v[b + M.ClockEventSlots[k]] = (reasons & (ulong)M.ClockReasons[k].Bit) != 0 ? 1 : 0;
            }
        }
        else if (Stopped(g))
        {
            return;
        }

        ReadFields(g, d, g.FastFieldBuffer, FastFields, v, g.RetryUnsupported);
        g.RetryUnsupported = false;
    }

    /// <summary>
    /// <c>nvmlDeviceGetUtilizationRates</c>: the driver's last sampling period (1/6 s to 1 s by product, 200 ms
    /// on an H200). Not <c>nvmlDeviceGetSamples</c>: on an H200 (R580) each call of it costs 2.4 ms of CPU
    /// against 2 µs for this one, and a tick reads two kinds per GPU (docs/nvml-hardware.md).
    /// </summary>
    private void ReadUtilization(GpuState g, INvmlDevice d, double[] v)
    {
        var rc = d.GetUtilizationRates(out var u);
        if (Ok(g, rc, M.UtilizationSlots, v))
        {
            v[g.Base + M.OffUtilization] = u.Gpu / 100.0;
            v[g.Base + M.OffMemoryUtilization] = u.Memory / 100.0;
        }
    }
}
