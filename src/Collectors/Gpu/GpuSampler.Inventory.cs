using System.Globalization;
using EfaAgent.Collectors.Nvml;
using Microsoft.Extensions.Logging;

namespace EfaAgent.Collectors.Gpu;

/// <summary>The GPU inventory: enumeration, identity, lost and recovered GPUs.</summary>
internal sealed partial class GpuSampler
{
    private void Enumerate()
    {
        var nvml = _session.Nvml;
        var rc = nvml.GetDeviceCount(out var count);
        if (Down(rc, "nvmlDeviceGetCount"))
        {
            return;
        }

        if (rc != NvmlReturn.Success)
        {
            if (rc != _lastEnumerationError)
            {
                _logger.LogWarning("cannot count GPUs: {Error} ({Code}); keeping the GPUs found before", nvml.ErrorString(rc), rc);
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

            if (Down(rc, "nvmlDeviceGetHandleByIndex/GetUUID"))
            {
                return;
            }

            if (rc != NvmlReturn.Success || device is null || uuid.Length == 0)
            {
                // Nothing identifies this GPU: keep what was known at that index, or a placeholder, as lost.
                var known = _gpus.Find(g => g.Index == i && !seen.Contains(g)) ?? AddGpu(Placeholder(i), "", i);
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
                _logger.LogInformation("found GPU {Index} {Uuid}", i, uuid);
            }

            seen.Add(gpu);
            if (gpu.Index != i)
            {
                gpu.SetIndex(i);
                _layoutDirty = true;
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
                if (Down(probe, "nvmlDeviceGetTemperature"))
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

            if (!gpu.Registered && _session.Watcher is { } watcher)
            {
                var reg = watcher.Set.Register(device, NvmlEventType.XidCriticalError);
                gpu.Registered = reg == NvmlReturn.Success;
                if (!gpu.Registered && reg != gpu.RegisterError)
                {
                    _logger.LogWarning("GPU {Index} {Uuid} cannot report Xid events: {Error} ({Code})", i, uuid, _session.Nvml.ErrorString(reg), reg);
                }

                gpu.RegisterError = reg;
            }
        }

        foreach (var g in _gpus.ToArray())
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
        _gpus.Add(g);
        _byKey[key] = g;
        _layoutDirty = true;
        return g;
    }

    private void RemoveGpu(GpuState g)
    {
        _gpus.Remove(g);
        _byKey.Remove(g.Key);
        if (GpuPci.DeviceKey(g.BusId) is { } deviceKey && _byDeviceKey.GetValueOrDefault(deviceKey) == g)
        {
            _byDeviceKey.Remove(deviceKey);
        }
        var label = g.IndexLabel;
        _unavailable.RemoveWhere((d, _, _) => d == label);
        _layoutDirty = true;
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
        (g.NumaNode, g.PciRoot) = g.BusId.Length > 0 ? GpuPci.Locate(_options.SysfsRoot, g.BusId) : ("", "");
        Span<NvmlFieldValue> links = [new NvmlFieldValue(NvlinkLinkCountField)];
        var linkRc = device.GetFieldValues(links);
        g.LinkCountStatus = linkRc == NvmlReturn.Success ? links[0].Result : linkRc;
        g.LinkCount = g.LinkCountStatus == NvmlReturn.Success ? (int)Math.Min(links[0].ToUInt64(), (ulong)g.LinkBuffer.Length) : 0;
        g.NeedsIdentity = IsLost(rc);
        _layoutDirty = true;
    }

    private void MarkLost(GpuState g, NvmlReturn rc, string where)
    {
        if (!g.Lost)
        {
            _logger.LogWarning("GPU {Index} {Uuid} stopped answering: {Error} ({Code} {Number}, from {Where}); its series are absent and gpu_up is 0 until it answers again",
                g.Index, g.Uuid, _session.Nvml.ErrorString(rc), rc, (int)rc, where);
            _wantsDiscovery = true;
        }

        g.Lost = true;
        g.LostReason = rc;
        if (g.Processes.Count > 0)
        {
            g.Processes.Clear();
            _layoutDirty = true;
        }

        if (g.Base >= 0)
        {
            WriteFixed(g, _frame.Values);
        }
    }

    private void Recover(GpuState g)
    {
        _logger.LogInformation("GPU {Index} {Uuid} answers again", g.Index, g.Uuid);
        g.Lost = false;
        if (g.Base >= 0)
        {
            WriteFixed(g, _frame.Values);
        }
    }
}
