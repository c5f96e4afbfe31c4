using EfaAgent.Collectors.Nvml;
using Microsoft.Extensions.Logging;
using M = EfaAgent.Collectors.Gpu.GpuMetrics;

namespace EfaAgent.Collectors.Gpu;

/// <summary>The slow lane: energy, error counters, link state and processes, on the discovery cadence.</summary>
internal sealed partial class GpuSampler
{
    private void ReadSlow(GpuState g, double[] v)
    {
        var d = g.Device!;
        var b = g.Base;
        g.RetryUnsupported = true;
        var energy = d.GetTotalEnergyConsumption(out var millijoules);
        if (Ok(g, energy, M.OffEnergy, v))
        {
            v[b + M.OffEnergy] = Count(g, M.OffEnergy, millijoules) / 1000.0;
        }
        else if (Stopped(g))
        {
            return;
        }

        foreach (var (type, counter, off) in M.EccSlots)
        {
            var rc = d.GetTotalEccErrors(type, counter, out var n);
            if (Ok(g, rc, off, v))
            {
                v[b + off] = Count(g, off, n);
            }
            else if (Stopped(g))
            {
                return;
            }
        }

        if (_session.ClockEvents == ClockEventIds.Unknown)
        {
            ProbeClockEvents(d);
        }

        ReadFields(g, d, g.SlowFieldBuffer, SlowFields, v);
        if (Stopped(g))
        {
            return;
        }

        ReadLinkErrors(g, d, v);
        if (Stopped(g))
        {
            return;
        }

        ReadLinkState(g, d, v);
        if (Stopped(g))
        {
            return;
        }

        ReadProcesses(g, d);
    }

    /// <summary>Asks the driver which set of ids holds the clock-event times; logs the answer once it settles.</summary>
    private void ProbeClockEvents(INvmlDevice d)
    {
        var probe = new NvmlFieldValue[DriverBranch.ClockEventProbe.Length];
        for (var i = 0; i < probe.Length; i++)
        {
            probe[i] = new NvmlFieldValue(DriverBranch.ClockEventProbe[i]);
        }

        var ids = DriverBranch.ChooseClockEventIds(_session.DriverMajor, d.GetFieldValues(probe), probe);
        if (ids != ClockEventIds.Unknown)
        {
            _session.ClockEvents = ids;
            _logger.LogInformation("{ClockEvents}", DriverBranch.Describe(ids));
        }
    }

    /// <summary>The id to ask for <paramref name="s"/>; 0 where this driver has no such field.</summary>
    private uint FieldIdOf(GpuSeries s) => s.MovedFrom == 0 ? s.FieldFor(_session.DriverMajor) : _session.ClockEvents switch
    {
        ClockEventIds.Fields251 => s.MovedFrom,
        ClockEventIds.Fields269 => s.FieldId,
        _ => 0,
    };

    /// <summary>
    /// Reads the field series at <paramref name="offsets"/> in one call. A field this driver has no id
    /// for is not asked (its series stays absent), nor, unless <paramref name="retryUnsupported"/>, one
    /// the GPU said NOT_SUPPORTED to last time: such a field is asked again on the slow cadence, not every
    /// tick, as a failing EFA counter file is. (On the H200 measured, asking costs little: 13 µs for such
    /// a field.)
    /// </summary>
    private void ReadFields(GpuState g, INvmlDevice d, NvmlFieldValue[] buffer, int[] offsets, double[] v, bool retryUnsupported = true)
    {
        var table = M.PerGpu;
        Span<int> asked = stackalloc int[offsets.Length];
        var n = 0;
        foreach (var off in offsets)
        {
            var s = table[off];
            var id = FieldIdOf(s);
            if (id != 0 && (retryUnsupported || g.Status[off] != NvmlReturn.NotSupported))
            {
                buffer[n] = new NvmlFieldValue(id, s.ScopeId);
                asked[n++] = off;
            }
        }

        if (n == 0)
        {
            return;
        }

        var rc = d.GetFieldValues(buffer.AsSpan(0, n));
        var b = g.Base;
        for (var k = 0; k < n; k++)
        {
            var off = asked[k];
            var f = buffer[k];
            var result = rc == NvmlReturn.Success ? f.Result : rc;
            if (!Ok(g, result, off, v))
            {
                if (Stopped(g))
                {
                    return;
                }

                continue;
            }

            if (IsBlank(f))
            {
                v[b + off] = double.NaN;
                continue;
            }

            var scale = table[off].Scale;
            v[b + off] = M.IsCounter(off) ? CountField(g, off, f) * scale : f.ToDouble() * scale;
        }
    }

    /// <summary>
    /// NVLink error totals: the 13.x header puts the link in <c>scopeId</c> for fields 38/45/52/59, so each
    /// link is read and the links are summed (see the README on why not scopeId 0 or UINT_MAX).
    /// </summary>
    private void ReadLinkErrors(GpuState g, INvmlDevice d, double[] v)
    {
        var b = g.Base;
        foreach (var off in LinkFields)
        {
            if (g.LinkCount <= 0)
            {
                if (!Ok(g, g.LinkCountStatus, off, v) && Stopped(g))
                {
                    return;
                }

                continue;
            }

            var buffer = g.LinkBuffer.AsSpan(0, g.LinkCount);
            for (var link = 0; link < buffer.Length; link++)
            {
                buffer[link] = new NvmlFieldValue(M.PerGpu[off].FieldId, (uint)link);
            }

            var result = d.GetFieldValues(buffer);
            ulong sum = 0;
            for (var link = 0; link < buffer.Length && result == NvmlReturn.Success; link++)
            {
                result = buffer[link].Result;
                sum += IsBlank(buffer[link]) ? 0 : buffer[link].ToUInt64();
            }

            if (Ok(g, result, off, v))
            {
                v[b + off] = Count(g, off, sum);
            }
            else if (Stopped(g))
            {
                return;
            }
        }
    }

    /// <summary>PCIe link generation and width (now and allowed), and how many NVLink links are up.</summary>
    private void ReadLinkState(GpuState g, INvmlDevice d, double[] v)
    {
        var b = g.Base;
        foreach (var (query, off) in PcieQueries)
        {
            var rc = d.GetPcieLink(query, out var value);
            if (Ok(g, rc, off, v))
            {
                v[b + off] = value;
            }
            else if (Stopped(g))
            {
                return;
            }
        }

        if (!Ok(g, g.LinkCountStatus, M.OffNvlinkLinks, v) | !Ok(g, g.LinkCountStatus, M.OffNvlinkLinksActive, v))
        {
            return;
        }

        v[b + M.OffNvlinkLinks] = g.LinkCount;
        var active = 0;
        for (var link = 0; link < g.LinkCount; link++)
        {
            var rc = d.GetNvLinkState(link, out var up);
            if (rc != NvmlReturn.Success)
            {
                if (!Ok(g, rc, M.OffNvlinkLinksActive, v))
                {
                    return;
                }
            }

            active += up ? 1 : 0;
        }

        Ok(g, NvmlReturn.Success, M.OffNvlinkLinksActive, v);
        v[b + M.OffNvlinkLinksActive] = active;
    }

    private void ReadProcesses(GpuState g, INvmlDevice d)
    {
        var rc = NvmlReturn.Unknown;
        var n = 0;
        for (var attempt = 0; attempt < MaxProcessAttempts; attempt++)
        {
            rc = d.GetComputeRunningProcesses(g.ProcessBuffer, out n);
            if (rc != NvmlReturn.InsufficientSize)
            {
                break;
            }

            // More processes than the buffer holds (and more may start before the next try): grow with room.
            g.ProcessBuffer = new NvmlProcessInfo[Math.Max(n + 8, g.ProcessBuffer.Length * 2)];
        }

        if (rc != NvmlReturn.Success)
        {
            if (IsLost(rc))
            {
                MarkLost(g, rc, "nvmlDeviceGetComputeRunningProcesses_v3");
                return;
            }

            if (Down(rc, "nvmlDeviceGetComputeRunningProcesses_v3"))
            {
                return;
            }

            if (g.ProcessStatus != rc)
            {
                _unavailable.Set(g.IndexLabel, "", M.ProcessMemory.Name, NvmlReturns.Reason(rc), "nvmlDeviceGetComputeRunningProcesses_v3");
                g.ProcessStatus = rc;
            }

            if (g.Processes.Count > 0)
            {
                g.Processes.Clear();
                _layoutDirty = true;
            }

            return;
        }

        if (g.ProcessStatus != NvmlReturn.Success)
        {
            _unavailable.Clear(g.IndexLabel, "", M.ProcessMemory.Name);
            g.ProcessStatus = NvmlReturn.Success;
        }

        var found = new List<(uint Pid, double Bytes)>(n);
        for (var i = 0; i < Math.Min(n, g.ProcessBuffer.Length); i++)
        {
            var p = g.ProcessBuffer[i];
            found.Add((p.Pid, p.UsedGpuMemory == NvmlValues.NotAvailable ? double.NaN : p.UsedGpuMemory));
        }

        found.Sort(static (a, b) => a.Pid.CompareTo(b.Pid));
        var same = found.Count == g.Processes.Count;
        for (var i = 0; same && i < found.Count; i++)
        {
            same = found[i].Pid == g.Processes[i].Pid;
        }

        if (!same)
        {
            _layoutDirty = true;
        }

        g.Processes.Clear();
        g.Processes.AddRange(found);
    }
}
