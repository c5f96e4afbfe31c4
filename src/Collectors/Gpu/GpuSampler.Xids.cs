using Microsoft.Extensions.Logging;

namespace EfaAgent.Collectors.Gpu;

/// <summary>Xid events from NVML and the kernel log, each counted once on its GPU.</summary>
internal sealed partial class GpuSampler
{
    private void DrainXids()
    {
        _session.Watcher?.Drain(this, static (self, e) => self.CountXid(e));
        _kernel?.Poll(this, static (self, x) => self.CountKernelXid(x));
        _frame.Values[SlotXidDropped] = _session.XidDropped;
    }

    private void CountXid(XidEvent e)
    {
        if (e.Device is null || !_inventory.ByDevice.TryGetValue(e.Device, out var g))
        {
            Unattributed(e.Xid, "NVML event from a device NVML did not enumerate", "");
            return;
        }

        CountXid(g, e.Xid, e.UnixSeconds, XidSource.Nvml, "");
    }

    private void CountKernelXid(KernelXid x)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0;
        if (!_inventory.ByDeviceKey.TryGetValue(x.DeviceKey, out var g))
        {
            Unattributed(x.Xid, "kernel log line for PCI device " + x.DeviceKey + ", which NVML does not list", x.Message);
            return;
        }

        CountXid(g, x.Xid, now, XidSource.KernelLog, x.Message);
    }

    /// <summary>Counts one report; the other source's report of the same event (within the dedup window) is not counted again.</summary>
    private void CountXid(GpuState g, ulong xid, double unixSeconds, XidSource source, string message)
    {
        if (!g.XidDedup.IsNew(xid, unixSeconds, source))
        {
            if (message.Length > 0)
            {
                _logger.LogWarning("GPU {Index} {Uuid} Xid {Xid} in the kernel log (the event NVML reported, counted once): {Message}", g.Index, g.Uuid, xid, message);
            }
            else
            {
                _logger.LogDebug("GPU {Index} {Uuid} Xid {Xid} from NVML is the event the kernel log reported, counted once", g.Index, g.Uuid, xid);
            }

            return;
        }

        if (!g.Xids.TryGetValue(xid, out var count))
        {
            count = new XidCount(xid);
            g.Xids.Add(xid, count);
            _layoutDirty = true;
        }

        count.Count++;
        g.LastXid = unixSeconds;
        _xidsChanged = true;
        _logger.LogWarning("GPU {Index} {Uuid} reported Xid {Xid} ({Action}; {Count} so far; from {Source}){Message}",
            g.Index, g.Uuid, xid, XidCatalog.Action(xid), count.Count, source == XidSource.Nvml ? "NVML" : "the kernel log",
            message.Length > 0 ? ": " + message : "");
    }

    private void Unattributed(ulong xid, string what, string message)
    {
        _xidUnattributed++;
        _frame.Values[SlotXidUnattributed] = _xidUnattributed;
        _logger.LogWarning("Xid {Xid} ({Action}) not attributed to a GPU: {What}{Message}", xid, XidCatalog.Action(xid), what, message.Length > 0 ? ": " + message : "");
    }
}
