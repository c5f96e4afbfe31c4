using EfaAgent.Collectors.Nvml;
using M = EfaAgent.Collectors.Gpu.GpuMetrics;

namespace EfaAgent.Collectors.Gpu;

/// <summary>The fast lane: what every tick reads from each GPU.</summary>
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

        rc = d.GetTotalEnergyConsumption(out var millijoules);
        if (Ok(g, rc, M.OffEnergy, v))
        {
            v[b + M.OffEnergy] = Count(g, M.OffEnergy, millijoules) / 1000.0;
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

        ReadFields(g, d, g.FastFieldBuffer, FastFields, v);
    }

    /// <summary>
    /// Each ratio from the driver's samples since the last tick where there are new ones; the driver's own
    /// window (<c>GetUtilizationRates</c>) for a ratio without new samples, so that samples already read
    /// (and so consumed) are never thrown away because the other kind had nothing new.
    /// </summary>
    private void ReadUtilization(GpuState g, INvmlDevice d, double[] v)
    {
        var b = g.Base;
        var gpu = 0.0;
        var memory = 0.0;
        var gpuOk = false;
        var memOk = false;
        if (!g.SamplesUnsupported)
        {
            gpuOk = ReadSamples(g, d, NvmlSamplingType.GpuUtilization, ref g.LastGpuSample, out gpu);
            if (Stopped(g))
            {
                return;
            }

            memOk = !g.SamplesUnsupported && ReadSamples(g, d, NvmlSamplingType.MemoryUtilization, ref g.LastMemorySample, out memory);
            if (Stopped(g))
            {
                return;
            }
        }

        if (!gpuOk || !memOk)
        {
            var rc = d.GetUtilizationRates(out var u);
            if (!Ok(g, rc, M.UtilizationSlots, v))
            {
                return;
            }

            gpu = gpuOk ? gpu : u.Gpu;
            memory = memOk ? memory : u.Memory;
        }
        else
        {
            Ok(g, NvmlReturn.Success, M.UtilizationSlots, v);
        }

        v[b + M.OffUtilization] = gpu / 100.0;
        v[b + M.OffMemoryUtilization] = memory / 100.0;
    }

    /// <summary>The mean of the samples newer than <paramref name="lastSeen"/> (only the newest on the first call).</summary>
    private bool ReadSamples(GpuState g, INvmlDevice d, NvmlSamplingType type, ref ulong lastSeen, out double mean)
    {
        mean = 0;
        var buffer = g.SampleBuffer;
        var rc = d.GetSamples(type, lastSeen, buffer, out var n, out var valueType);
        if (rc != NvmlReturn.Success)
        {
            if (rc is NvmlReturn.NotSupported or NvmlReturn.FunctionNotFound)
            {
                g.SamplesUnsupported = true;
            }
            else if (IsLost(rc))
            {
                MarkLost(g, rc, "nvmlDeviceGetSamples");
            }
            else
            {
                Down(rc, "nvmlDeviceGetSamples");
            }

            return false;
        }

        n = Math.Min(n, buffer.Length);
        var first = lastSeen == 0;
        var newest = lastSeen;
        var sum = 0.0;
        var k = 0;
        for (var i = 0; i < n; i++)
        {
            var s = buffer[i];
            if (s.TimeStamp <= lastSeen)
            {
                continue;
            }

            if (first)
            {
                if (s.TimeStamp >= newest)
                {
                    newest = s.TimeStamp;
                    sum = s.ToDouble(valueType);
                    k = 1;
                }

                continue;
            }

            sum += s.ToDouble(valueType);
            k++;
            newest = Math.Max(newest, s.TimeStamp);
        }

        if (k == 0)
        {
            return false;
        }

        lastSeen = newest;
        mean = sum / k;
        return true;
    }
}
