using Microsoft.Extensions.Logging;

namespace EfaAgent.Collectors.Model;

/// <summary>
/// The counters a collector cannot export right now, each with the reason, shown as
/// <c>efa_agent_unavailable{collector,device,port,counter,reason} 1</c> and logged once when
/// it starts and once when it ends. Nothing is dropped silently: a counter that is not exported is
/// named here. Collectors call it only on a change of state, so the fast lane does not allocate.
/// </summary>
public sealed class UnavailableSeries(string collector, ILogger logger)
{
    /// <summary>The family of the series.</summary>
    public static readonly MetricFamily Family = new(
        "efa_agent_unavailable",
        "1 for each counter the agent found but cannot export right now; reason says why: read_error, empty, not_available, malformed, overflow, implausible (a jump far above the port's rate, not counted), name_collision (two files give one metric name) or missing_hw_counters for a counter file; list_error for a directory that cannot be listed; missing_colon, field_count or bad_number for a /proc/net/dev line, name_too_long for an interface name over 15 characters; the NVML return code in snake case (not_supported, gpu_is_lost, ...) for a GPU metric; not_supported, permission_denied, no_device, count_mismatch, malformed, duplicate_name, not_available or errno_<n> for an ethtool interface (counter *) or statistic.",
        MetricType.Gauge,
        "collector", "device", "port", "counter", "reason");

    private readonly Dictionary<(string Device, string Port, string Counter), (string Reason, Series Series)> _current = [];

    /// <summary>Whether the set changed since the last <see cref="AppendTo"/>.</summary>
    public bool Changed { get; private set; }

    /// <summary>The number of counters currently unavailable.</summary>
    public int Count => _current.Count;

    /// <summary>Marks a counter unavailable for <paramref name="reason"/>, logging when this is news.</summary>
    public void Set(string device, string port, string counter, string reason, string where)
    {
        var key = (device, port, counter);
        if (_current.TryGetValue(key, out var existing) && existing.Reason == reason)
        {
            return;
        }

        _current[key] = (reason, Family.With(collector, device, port, counter, reason));
        Changed = true;
        logger.LogWarning("counter {Counter} of {Device} is not exported: {Reason} ({Where})",
            ExpositionText.Printable(counter), Owner(device, port), reason, ExpositionText.Printable(where));
    }

    /// <summary>Marks a counter available again, logging when it was not.</summary>
    public void Clear(string device, string port, string counter)
    {
        if (_current.Remove((device, port, counter)))
        {
            Changed = true;
            logger.LogInformation("counter {Counter} of {Device} is readable again", ExpositionText.Printable(counter), Owner(device, port));
        }
    }

    /// <summary>Forgets every entry for which <paramref name="keep"/> is false, without logging (the device went away).</summary>
    public void RemoveWhere(Func<string, string, string, bool> remove)
    {
        foreach (var key in _current.Keys.ToArray())
        {
            if (remove(key.Device, key.Port, key.Counter))
            {
                _current.Remove(key);
                Changed = true;
            }
        }
    }

    /// <summary>Adds one series per unavailable counter; returns the number added.</summary>
    public int AppendTo(LayoutBuilder builder)
    {
        foreach (var entry in _current.OrderBy(e => e.Value.Series.Key, StringComparer.Ordinal))
        {
            builder.Add(entry.Value.Series);
        }

        Changed = false;
        return _current.Count;
    }

    /// <summary>The device and port a counter belongs to, for a log line: "rdmap16s27 port 1", "ens32", or "-".</summary>
    private static string Owner(string device, string port) =>
        ExpositionText.Printable(port.Length > 0 ? $"{device} port {port}" : device.Length > 0 ? device : "-");
}
