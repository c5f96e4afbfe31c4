using System.Text;

namespace EfaAgent.Collectors.Efa;

/// <summary>
/// Naming of RDMA hardware counters. Counter names are data: every file in a <c>hw_counters/</c>
/// directory becomes <c>&lt;efa|rdma&gt;_&lt;port|device&gt;_&lt;file&gt;_total</c>; the table below
/// only adds help text. A counter no table knows (a newer driver's) is exported by the same rule.
/// </summary>
public static class RdmaCounterNames
{
    // Port level: drivers r1.4 (base) .. r2.17 / kernel 6.17 (retransmit and remote-peer events).
    private static readonly Dictionary<string, string> PortHelp = new(StringComparer.Ordinal)
    {
        ["tx_bytes"] = "Bytes transmitted.",
        ["tx_pkts"] = "Packets transmitted.",
        ["rx_bytes"] = "Bytes received.",
        ["rx_pkts"] = "Packets received.",
        ["rx_drops"] = "Received packets dropped.",
        ["send_bytes"] = "Bytes sent by send work requests.",
        ["send_wrs"] = "Send work requests.",
        ["recv_bytes"] = "Bytes received by receive work requests.",
        ["recv_wrs"] = "Receive work requests.",
        ["rdma_read_wrs"] = "RDMA read work requests.",
        ["rdma_read_bytes"] = "Bytes read by RDMA read.",
        ["rdma_read_wr_err"] = "RDMA read work requests that failed.",
        ["rdma_read_resp_bytes"] = "Bytes sent in responses to remote RDMA reads.",
        ["rdma_write_wrs"] = "RDMA write work requests (0 on devices without RDMA write, e.g. p4d).",
        ["rdma_write_bytes"] = "Bytes written by RDMA write.",
        ["rdma_write_wr_err"] = "RDMA write work requests that failed.",
        ["rdma_write_recv_bytes"] = "Bytes received by remote RDMA writes.",
        ["retrans_bytes"] = "Bytes retransmitted (kernel 6.17+, meaningful on Nitro v4+).",
        ["retrans_pkts"] = "Packets retransmitted.",
        ["retrans_timeout_events"] = "Retransmission timeouts.",
        ["unresponsive_remote_events"] = "Times a remote peer stopped responding.",
        ["impaired_remote_conn_events"] = "Times a connection to a remote peer was impaired.",
    };

    // Device level (admin queue), drivers r1.14+ / kernel ~5.15+; before the split also at port level.
    private static readonly Dictionary<string, string> DeviceHelp = new(StringComparer.Ordinal)
    {
        ["submitted_cmds"] = "Admin commands submitted to the device.",
        ["completed_cmds"] = "Admin commands completed.",
        ["cmds_err"] = "Admin commands that failed.",
        ["no_completion_cmds"] = "Admin commands that never completed.",
        ["keep_alive_rcvd"] = "Keep-alive events received from the device.",
        ["alloc_pd_err"] = "Protection domain allocations that failed.",
        ["create_qp_err"] = "Queue pair creations that failed.",
        ["create_cq_err"] = "Completion queue creations that failed.",
        ["reg_mr_err"] = "Memory region registrations that failed.",
        ["alloc_ucontext_err"] = "User context allocations that failed.",
        ["create_ah_err"] = "Address handle creations that failed.",
        ["mmap_err"] = "Memory mappings that failed.",
        ["alloc_mr_err"] = "Memory region allocations that failed.",
        ["get_dma_mr_err"] = "DMA memory region requests that failed.",
    };

    /// <summary>The metric name of a counter file.</summary>
    public static string MetricName(bool isEfa, bool portLevel, string counter)
    {
        var name = new StringBuilder(isEfa ? "efa_" : "rdma_");
        name.Append(portLevel ? "port_" : "device_");
        var sanitized = Sanitize(counter);
        name.Append(sanitized);
        if (!sanitized.EndsWith("_total", StringComparison.Ordinal))
        {
            name.Append("_total");
        }

        return name.ToString();
    }

    /// <summary>The help text of a counter file's metric.</summary>
    public static string Help(bool isEfa, bool portLevel, string counter)
    {
        var where = portLevel ? "ports/<port>/hw_counters/" : "hw_counters/";
        var kind = isEfa ? "EFA" : "RDMA";
        var known = (portLevel ? PortHelp : DeviceHelp).TryGetValue(counter, out var h)
            || (portLevel ? DeviceHelp : PortHelp).TryGetValue(counter, out h);
        return known
            ? $"{kind} {h} From {where}{counter}."
            : $"{kind} hardware counter from {where}{counter} (not described by this agent version; exported as read).";
    }

    /// <summary>Whether this agent has help text for the counter (it exports the others all the same).</summary>
    public static bool IsKnown(string counter) => PortHelp.ContainsKey(counter) || DeviceHelp.ContainsKey(counter);

    /// <summary>Makes a file name a valid metric name part: lower case, <c>[a-z0-9_]</c>, not starting with a digit.</summary>
    public static string Sanitize(string counter)
    {
        var sb = new StringBuilder(counter.Length + 1);
        foreach (var c in counter)
        {
            var lc = char.ToLowerInvariant(c);
            sb.Append(lc is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_' ? lc : '_');
        }

        if (sb.Length == 0 || char.IsAsciiDigit(sb[0]))
        {
            sb.Insert(0, '_');
        }

        return sb.ToString();
    }
}
