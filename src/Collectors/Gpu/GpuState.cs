using System.Globalization;
using EfaAgent.Collectors.Derive;
using EfaAgent.Collectors.Nvml;
using M = EfaAgent.Collectors.Gpu.GpuMetrics;

namespace EfaAgent.Collectors.Gpu;

/// <summary>One Xid code's count on one GPU, and its slot.</summary>
internal sealed class XidCount(ulong xid)
{
    public ulong Xid { get; } = xid;

    public long Count { get; set; }

    public int Slot { get; set; } = -1;
}

/// <summary>What the collector knows of one GPU: identity, status, counters, buffers, Xids and processes.</summary>
internal sealed class GpuState
{
    public GpuState(string key, string uuid, int index)
    {
        Key = key;
        Uuid = uuid;
        SetIndex(index);
        foreach (var xid in M.KnownXids)
        {
            Xids[xid] = new XidCount(xid);
        }
    }

    public string Key { get; }

    public string Uuid { get; }

    public int Index { get; private set; }

    public string IndexLabel { get; private set; } = "";

    public INvmlDevice? Device { get; set; }

    public bool NeedsIdentity { get; set; }

    public string Name { get; set; } = "";

    public string BusId { get; set; } = "";

    public string NumaNode { get; set; } = "";

    public string PciRoot { get; set; } = "";

    public bool Lost { get; set; }

    public NvmlReturn LostReason { get; set; }

    public bool Registered { get; set; }

    public NvmlReturn RegisterError { get; set; }

    public int Base { get; set; } = -1;

    public CounterState[] Counters { get; } = new CounterState[M.PerGpu.Count];

    public ulong[] Wide { get; } = new ulong[M.PerGpu.Count];

    public uint[] Last32 { get; } = new uint[M.PerGpu.Count];

    public bool[] WideSeen { get; } = new bool[M.PerGpu.Count];

    public NvmlReturn[] Status { get; } = new NvmlReturn[M.PerGpu.Count];

    /// <summary>Whether the next fast-lane read asks again for the fields that said NOT_SUPPORTED (set by each slow read).</summary>
    public bool RetryUnsupported { get; set; } = true;

    public NvmlFieldValue[] FastFieldBuffer { get; } = new NvmlFieldValue[GpuSampler.FastFields.Length];

    public NvmlFieldValue[] SlowFieldBuffer { get; } = new NvmlFieldValue[GpuSampler.SlowFields.Length];

    public NvmlProcessInfo[] ProcessBuffer { get; set; } = new NvmlProcessInfo[16];

    public NvmlFieldValue[] LinkBuffer { get; } = new NvmlFieldValue[NvmlFieldValue.MaxBatch];

    public int LinkCount { get; set; }

    public NvmlReturn LinkCountStatus { get; set; } = NvmlReturn.NotSupported;

    public NvmlReturn ProcessStatus { get; set; }

    public List<(uint Pid, double Bytes)> Processes { get; } = [];

    public int[] ProcessSlots { get; set; } = [];

    public Dictionary<ulong, XidCount> Xids { get; } = [];

    public XidCount[] XidOrder { get; set; } = [];

    public double LastXid { get; set; } = double.NaN;

    public XidDedup XidDedup { get; } = new();

    public void SetIndex(int index)
    {
        Index = index;
        IndexLabel = index.ToString(CultureInfo.InvariantCulture);
    }
}
