using System.Text;
using System.Text.Json;

namespace EfaAgent.Agent.Top;

/// <summary>The snapshot as JSON, in base units (bytes per second, bytes, watts, hertz, ratios 0..1), for scripts.</summary>
public static class TopJson
{
    /// <summary>Writes <paramref name="job"/> as one JSON object.</summary>
    public static string Write(JobView job)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartArray("nodes");
            for (var i = 0; i < job.Nodes.Count; i++)
            {
                Node(w, job.Nodes[i], job.Stragglers[i]);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    private static void Node(Utf8JsonWriter w, NodeView n, string? straggler)
    {
        w.WriteStartObject();
        w.WriteString("name", n.Name);
        w.WriteString("source", n.Source);
        w.WriteBoolean("up", !n.Down);
        Text(w, "error", n.Error);
        Text(w, "instance_type", n.InstanceType);
        Text(w, "simulated", n.Simulated);
        Text(w, "straggler", straggler);
        Number(w, "efa_devices", n.EfaFound);
        Number(w, "efa_devices_expected", n.EfaExpected);
        w.WriteStartArray("verdicts");
        foreach (var v in n.Verdicts)
        {
            w.WriteStartObject();
            w.WriteString("severity", v.Severity.ToString().ToLowerInvariant());
            w.WriteString("text", v.Text);
            Text(w, "alert", v.Alert);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        var t = n.Totals;
        w.WriteStartObject("totals");
        Number(w, "efa_transmit_bytes_per_second", t.EfaTransmit);
        Number(w, "efa_receive_bytes_per_second", t.EfaReceive);
        Number(w, "ena_transmit_bytes_per_second", t.EnaTransmit);
        Number(w, "ena_receive_bytes_per_second", t.EnaReceive);
        Number(w, "gpu_utilization_mean", t.GpuMean);
        Number(w, "gpu_utilization_min", t.GpuMin);
        w.WriteNumber("errors_moving", t.ErrorsMoving);
        w.WriteEndObject();
        w.WriteStartArray("efa");
        foreach (var p in n.Efa)
        {
            w.WriteStartObject();
            w.WriteString("device", p.Device);
            w.WriteString("port", p.Port);
            Text(w, "netdev", p.Netdev);
            Number(w, "port_rate_bytes_per_second", p.PortRate);
            Number(w, "transmit_bytes_per_second", p.Transmit);
            Number(w, "receive_bytes_per_second", p.Receive);
            Number(w, "transmit_peak_bytes_per_second", p.TransmitPeak);
            Number(w, "receive_peak_bytes_per_second", p.ReceivePeak);
            Number(w, "rdma_read_bytes_per_second", p.RdmaRead);
            Number(w, "rdma_write_bytes_per_second", p.RdmaWrite);
            Errors(w, "errors", p.Errors);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartArray("interfaces");
        foreach (var i in n.Interfaces)
        {
            w.WriteStartObject();
            w.WriteString("device", i.Device);
            Text(w, "efa_device", i.EfaDevice);
            Number(w, "transmit_bytes_per_second", i.Transmit);
            Number(w, "receive_bytes_per_second", i.Receive);
            Number(w, "transmit_peak_bytes_per_second", i.TransmitPeak);
            Number(w, "receive_peak_bytes_per_second", i.ReceivePeak);
            Errors(w, "allowance_exceeded", i.AllowanceDrops);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartArray("gpus");
        foreach (var g in n.Gpus)
        {
            w.WriteStartObject();
            w.WriteString("gpu", g.Index);
            w.WriteBoolean("up", g.Up);
            Number(w, "utilization_ratio", g.Utilization);
            Number(w, "memory_used_bytes", g.MemoryUsed);
            Number(w, "memory_total_bytes", g.MemoryTotal);
            Number(w, "power_watts", g.Power);
            Number(w, "temperature_celsius", g.Temperature);
            Number(w, "sm_clock_hertz", g.SmClock);
            w.WriteStartArray("throttle");
            foreach (var r in g.Throttle)
            {
                w.WriteStringValue(r);
            }

            w.WriteEndArray();
            Number(w, "nvlink_transmit_bytes_per_second", g.NvlinkTransmit);
            Number(w, "nvlink_receive_bytes_per_second", g.NvlinkReceive);
            Number(w, "pcie_transmit_bytes_per_second", g.PcieTransmit);
            Number(w, "pcie_receive_bytes_per_second", g.PcieReceive);
            Errors(w, "xid", g.Xids);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void Errors(Utf8JsonWriter w, string name, IReadOnlyList<ErrorCount> errors)
    {
        w.WriteStartArray(name);
        foreach (var e in errors)
        {
            w.WriteStartObject();
            w.WriteString("counter", e.Counter);
            w.WriteNumber("total", e.Total);
            w.WriteNumber("last_interval", e.Recent);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    private static void Text(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value);
        }
    }

    private static void Number(Utf8JsonWriter w, string name, double? value)
    {
        if (value is { } v && double.IsFinite(v))
        {
            w.WriteNumber(name, Math.Round(v, 6));
        }
        else
        {
            w.WriteNull(name);
        }
    }
}
