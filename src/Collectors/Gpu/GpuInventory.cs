using System.Globalization;
using EfaAgent.Collectors.Model;
using EfaAgent.Collectors.Nvml;
using Microsoft.Extensions.Logging;

namespace EfaAgent.Collectors.Gpu;

/// <summary>
/// The GPU inventory of an <see cref="NvmlSession"/>: enumeration, identity, lost and recovered GPUs,
/// and the lookups from an NVML handle or a PCI device to a GPU. Only the worker thread calls it.
/// <paramref name="stateChanged"/> is told each time a GPU is lost or answers again.
/// </summary>
internal sealed class GpuInventory(NvmlSession session, string sysfsRoot, UnavailableSeries unavailable, ILogger logger, Action<GpuState> stateChanged)
{
    /// <summary>NVML_FI_DEV_NVLINK_LINK_COUNT.</summary>
    private const uint NvlinkLinkCountField = 91;

    /// <summary>Key of a GPU NVML cannot identify (its handle or UUID query fails): known only by its index.</summary>
    private const string PlaceholderPrefix = "index:";
    private readonly Dictionary<string, GpuState> _byKey = new(StringComparer.Ordinal);
    private readonly Dictionary<INvmlDevice, GpuState> _byDevice = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<string, GpuState> _byDeviceKey = new(StringComparer.Ordinal);
    private NvmlReturn _lastEnumerationError;
    private bool _layoutChanged;
    private bool _wantsDiscovery;

    /// <summary>The GPUs known, lost ones included (the layout sorts them in place).</summary>
    public List<GpuState> Gpus { get; } = [];

    /// <summary>GPUs by their NVML handle.</summary>
    public IReadOnlyDictionary<INvmlDevice, GpuState> ByDevice => _byDevice;

    /// <summary>GPUs by their PCI device key (<see cref="GpuPci.DeviceKey"/>).</summary>
    public IReadOnlyDictionary<string, GpuState> ByDeviceKey => _byDeviceKey;

    /// <summary>Whether a GPU was added, removed, re-indexed or re-identified since the last call; cleared by reading.</summary>
    public bool TakeLayoutChanged()
    {
        var c = _layoutChanged;
        _layoutChanged = false;
        return c;
    }

    /// <summary>Whether a GPU was newly lost since the last call (a discovery should follow soon); cleared by reading.</summary>
    public bool TakeWantsDiscovery()
    {
        var w = _wantsDiscovery;
        _wantsDiscovery = false;
        return w;
    }

    /// <summary>Whether a return code says the GPU itself is gone.</summary>
    public static bool IsLost(NvmlReturn rc) => rc is NvmlReturn.GpuIsLost or NvmlReturn.ResetRequired;

    /// <summary>Enumerates the GPUs NVML sees: finds new ones, reads their identity, and marks the missing lost and the answering recovered.</summary>
    public void Enumerate()
    {
        var nvml = session.Nvml;
        var rc = nvml.GetDeviceCount(out var count);
        if (session.Down(rc, "nvmlDeviceGetCount"))
        {
            return;
        }

        if (rc != NvmlReturn.Success)
        {
            if (rc != _lastEnumerationError)
            {
                logger.LogWarning("cannot count GPUs: {Error} ({Code}); keeping the GPUs found before", nvml.ErrorString(rc), rc);
                _lastEnumerationError = rc;
            }

            return;
        }

        _lastEnumerationError = NvmlReturn.Success;
        var seen = new HashSet<GpuState>();
        for (var i = 0; i < count; i++)
        {
            rc = nvml.GetDeviceByIndex(i, out var device);
            var uuid = "";
            if (rc == NvmlReturn.Success && device is not null)
            {
                rc = device.GetUuid(out uuid);
            }

            if (session.Down(rc, "nvmlDeviceGetHandleByIndex/GetUUID"))
            {
                return;
            }

            if (rc != NvmlReturn.Success || device is null || uuid.Length == 0)
            {
                // Nothing identifies this GPU: keep what was known at that index, or a placeholder, as lost.
                var known = Gpus.Find(g => g.Index == i && !seen.Contains(g)) ?? AddGpu(Placeholder(i), "", i);
                seen.Add(known);
                MarkLost(known, rc == NvmlReturn.Success ? NvmlReturn.Unknown : rc, "nvmlDeviceGetHandleByIndex/GetUUID");
                continue;
            }

            if (_byKey.TryGetValue(Placeholder(i), out var placeholder) && !seen.Contains(placeholder))
            {
                RemoveGpu(placeholder);
            }

            if (!_byKey.TryGetValue(uuid, out var gpu))
            {
                gpu = AddGpu(uuid, uuid, i);
                logger.LogInformation("found GPU {Index} {Uuid}", i, uuid);
            }

            seen.Add(gpu);
            if (gpu.Index != i)
            {
                gpu.SetIndex(i);
                _layoutChanged = true;
            }

            if (!ReferenceEquals(gpu.Device, device))
            {
                gpu.Device = device;
                gpu.Registered = false;
                _byDevice[device] = gpu;
            }

            if (gpu.NeedsIdentity)
            {
                ReadIdentity(gpu, device);
            }

            if (gpu.Lost)
            {
                // A lost GPU answers a cheap query again: it is back.
                var probe = device.GetTemperature(NvmlTemperatureSensor.Gpu, out _);
                if (session.Down(probe, "nvmlDeviceGetTemperature"))
                {
                    return;
                }

                if (IsLost(probe))
                {
                    gpu.LostReason = probe;
                    continue;
                }

                Recover(gpu);
            }

            if (!gpu.Registered && session.Watcher is { } watcher)
            {
                var reg = watcher.Set.Register(device, NvmlEventType.XidCriticalError);
                gpu.Registered = reg == NvmlReturn.Success;
                if (!gpu.Registered && reg != gpu.RegisterError)
                {
                    logger.LogWarning("GPU {Index} {Uuid} cannot report Xid events: {Error} ({Code})", i, uuid, session.Nvml.ErrorString(reg), reg);
                }

                gpu.RegisterError = reg;
            }
        }

        foreach (var g in Gpus.ToArray())
        {
            if (!seen.Contains(g))
            {
                if (g.Key.StartsWith(PlaceholderPrefix, StringComparison.Ordinal))
                {
                    RemoveGpu(g);
                }
                else
                {
                    MarkLost(g, NvmlReturn.GpuIsLost, "nvmlDeviceGetCount (no longer enumerated)");
                }
            }
        }
    }

    private static string Placeholder(int index) => PlaceholderPrefix + index.ToString(CultureInfo.InvariantCulture);

    private GpuState AddGpu(string key, string uuid, int index)
    {
        var g = new GpuState(key, uuid, index) { NeedsIdentity = uuid.Length > 0 };
        Gpus.Add(g);
        _byKey[key] = g;
        _layoutChanged = true;
        return g;
    }

    private void RemoveGpu(GpuState g)
    {
        Gpus.Remove(g);
        _byKey.Remove(g.Key);
        if (GpuPci.DeviceKey(g.BusId) is { } deviceKey && _byDeviceKey.GetValueOrDefault(deviceKey) == g)
        {
            _byDeviceKey.Remove(deviceKey);
        }
        var label = g.IndexLabel;
        unavailable.RemoveWhere((d, _, _) => d == label);
        _layoutChanged = true;
    }

    private void ReadIdentity(GpuState g, INvmlDevice device)
    {
        g.Name = device.GetName(out var name) == NvmlReturn.Success ? name : "";
        var rc = device.GetPciInfo(out var pci);
        g.BusId = rc == NvmlReturn.Success ? pci.BusId : "";
        if (GpuPci.DeviceKey(g.BusId) is { } deviceKey)
        {
            _byDeviceKey[deviceKey] = g;
        }
        (g.NumaNode, g.PciRoot) = g.BusId.Length > 0 ? GpuPci.Locate(sysfsRoot, g.BusId) : ("", "");
        Span<NvmlFieldValue> links = [new NvmlFieldValue(NvlinkLinkCountField)];
        var linkRc = device.GetFieldValues(links);
        g.LinkCountStatus = linkRc == NvmlReturn.Success ? links[0].Result : linkRc;
        g.LinkCount = g.LinkCountStatus == NvmlReturn.Success ? (int)Math.Min(links[0].ToUInt64(), (ulong)g.LinkBuffer.Length) : 0;
        g.NeedsIdentity = IsLost(rc);
        _layoutChanged = true;
    }

    /// <summary>Marks a GPU lost (it stopped answering with <paramref name="rc"/> in <paramref name="where"/>).</summary>
    public void MarkLost(GpuState g, NvmlReturn rc, string where)
    {
        if (!g.Lost)
        {
            logger.LogWarning("GPU {Index} {Uuid} stopped answering: {Error} ({Code} {Number}, from {Where}); its series are absent and gpu_up is 0 until it answers again",
                g.Index, g.Uuid, session.Nvml.ErrorString(rc), rc, (int)rc, where);
            _wantsDiscovery = true;
        }

        g.Lost = true;
        g.LostReason = rc;
        if (g.Processes.Count > 0)
        {
            g.Processes.Clear();
            _layoutChanged = true;
        }

        stateChanged(g);
    }

    private void Recover(GpuState g)
    {
        logger.LogInformation("GPU {Index} {Uuid} answers again", g.Index, g.Uuid);
        g.Lost = false;
        stateChanged(g);
    }
}
