using System.Globalization;
using EfaAgent.Collectors.Model;
using EfaAgent.Collectors.Nvml;
using M = EfaAgent.Collectors.Gpu.GpuMetrics;

namespace EfaAgent.Collectors.Gpu;

/// <summary>The layout of the frame, and how one call's result is written into it.</summary>
internal sealed partial class GpuSampler
{
    /// <summary>Writes what the collector itself knows: gpu_up, gpu_info, and the absence of a lost GPU's series.</summary>
    private static void WriteFixed(GpuState g, double[] v)
    {
        var b = g.Base;
        v[b + M.OffUp] = g.Lost ? 0 : 1;
        v[b + M.OffInfo] = 1;
        if (g.Lost)
        {
            for (var off = 0; off < M.PerGpu.Count; off++)
            {
                if (off != M.OffUp && off != M.OffInfo && off != M.OffLastXid)
                {
                    v[b + off] = double.NaN;
                }
            }
        }
    }

    private static void WriteDynamic(GpuState g, double[] v)
    {
        if (g.Base < 0)
        {
            return;
        }

        v[g.Base + M.OffLastXid] = g.LastXid;
        foreach (var x in g.XidOrder)
        {
            v[x.Slot] = x.Count;
        }

        for (var i = 0; i < g.ProcessSlots.Length && i < g.Processes.Count; i++)
        {
            v[g.ProcessSlots[i]] = g.Processes[i].Bytes;
        }
    }

    /// <summary>
    /// Builds the layout from the GPUs known, carrying every value over by series key so that a new
    /// layout (a process started, a new Xid code) shows no gap.
    /// </summary>
    private void Rebuild()
    {
        var b = new LayoutBuilder();
        b.Add(M.NvmlUp);
        b.Add(M.NvmlStalled);
        b.Add(M.XidDropped);
        b.Add(M.XidUnattributed);
        if (_session.Initialised)
        {
            _inventory.Gpus.Sort(static (x, y) => x.Index != y.Index ? x.Index.CompareTo(y.Index) : string.CompareOrdinal(x.Uuid, y.Uuid));
            foreach (var g in _inventory.Gpus)
            {
                g.Base = b.Count;
                var table = M.PerGpu;
                for (var off = 0; off < table.Count; off++)
                {
                    if (off == M.OffInfo)
                    {
                        b.Add(M.Info, g.IndexLabel, g.Uuid, g.BusId, g.Name, _session.DriverVersion, _session.NvmlVersion, g.NumaNode, g.PciRoot);
                    }
                    else
                    {
                        b.Add(table[off].Family, [g.IndexLabel, g.Uuid, g.BusId, .. table[off].Extra]);
                    }
                }
            }

            foreach (var g in _inventory.Gpus)
            {
                g.XidOrder = [.. g.Xids.Values.OrderBy(x => x.Xid)];
                foreach (var x in g.XidOrder)
                {
                    x.Slot = b.Add(M.XidErrors, g.IndexLabel, g.Uuid, g.BusId, XidCatalog.Label(x.Xid), XidCatalog.Action(x.Xid));
                }

                g.ProcessSlots = new int[g.Processes.Count];
                for (var i = 0; i < g.Processes.Count; i++)
                {
                    g.ProcessSlots[i] = b.Add(M.ProcessMemory, g.IndexLabel, g.Uuid, g.BusId, g.Processes[i].Pid.ToString(CultureInfo.InvariantCulture));
                }
            }
        }
        else
        {
            foreach (var g in _inventory.Gpus)
            {
                g.Base = -1;
                g.XidOrder = [];
                g.ProcessSlots = [];
            }
        }

        _frame.SetBaseCarrying(b, _unavailable);
        var v = _frame.Values;

        v[SlotNvmlUp] = _session.Initialised ? 1 : 0;
        v[SlotNvmlStalled] = 0;
        v[SlotXidDropped] = _session.XidDropped;
        v[SlotXidUnattributed] = _xidUnattributed;
        if (_session.Initialised)
        {
            foreach (var g in _inventory.Gpus)
            {
                WriteFixed(g, v);
                WriteDynamic(g, v);
            }
        }

        _layoutDirty = false;
    }

    /// <summary>Handles a call's result for the one series at <paramref name="offset"/>.</summary>
    private bool Ok(GpuState g, NvmlReturn rc, int offset, double[] v) => Ok(g, rc, [offset], v);

    /// <summary>
    /// Handles a call's result for the series at <paramref name="offsets"/> (all filled by the same call;
    /// the first names them in efa_agent_unavailable): true when the values may be written. A lost GPU is
    /// marked lost; NVML going away is noted for the end of the job; any other error makes the series
    /// absent and is shown (once) as an unavailable counter.
    /// </summary>
    private bool Ok(GpuState g, NvmlReturn rc, ReadOnlySpan<int> offsets, double[] v)
    {
        var offset = offsets[0];
        if (rc == NvmlReturn.Success)
        {
            if (g.Status[offset] != NvmlReturn.Success)
            {
                _unavailable.Clear(g.IndexLabel, "", M.PerGpu[offset].CounterName);
                g.Status[offset] = NvmlReturn.Success;
            }

            return true;
        }

        if (IsLost(rc))
        {
            MarkLost(g, rc, M.PerGpu[offset].Source);
            return false;
        }

        if (Down(rc, M.PerGpu[offset].Source))
        {
            return false;
        }

        foreach (var off in offsets)
        {
            v[g.Base + off] = double.NaN;
        }

        if (g.Status[offset] != rc)
        {
            _unavailable.Set(g.IndexLabel, "", M.PerGpu[offset].CounterName, NvmlReturns.Reason(rc), M.PerGpu[offset].Source);
            g.Status[offset] = rc;
        }

        return false;
    }

    private bool Stopped(GpuState g) => g.Lost || _session.IsDown;

    private bool Down(NvmlReturn rc, string where) => _session.Down(rc, where);

    private static bool IsLost(NvmlReturn rc) => GpuInventory.IsLost(rc);

    private static bool IsBlank(in NvmlFieldValue f) => f.ValueType switch
    {
        NvmlValueType.UnsignedLongLong or NvmlValueType.UnsignedLong => f.RawValue == NvmlValues.NotAvailable,
        NvmlValueType.UnsignedInt => (uint)f.RawValue == uint.MaxValue,
        _ => false,
    };

    private static double Count(GpuState g, int offset, ulong raw)
    {
        ref var c = ref g.Counters[offset];
        c.Update(raw);
        return c.Value;
    }

    /// <summary>A field counter; a 32-bit one is widened first, so that its wrap reads as a carry, not a reset.</summary>
    private static double CountField(GpuState g, int offset, in NvmlFieldValue f)
    {
        if (!NvmlValues.Is32Bit(f.ValueType))
        {
            return Count(g, offset, f.ToUInt64());
        }

        var raw = (uint)f.RawValue;
        g.Wide[offset] = g.WideSeen[offset] ? g.Wide[offset] + (uint)(raw - g.Last32[offset]) : raw;
        g.WideSeen[offset] = true;
        g.Last32[offset] = raw;
        return Count(g, offset, g.Wide[offset]);
    }
}
