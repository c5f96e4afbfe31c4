using System.Globalization;
using EfaAgent.Agent.Jobs;
using EfaAgent.Agent.Options;
using EfaAgent.Agent.Scrape;

namespace EfaAgent.Agent.Doctor.Checks;

/// <summary>
/// Check 5: for each peer (<c>--peer</c>, <c>--hostfile</c>), a TCP connection to its rendezvous port
/// (connected, refused or timed out) and a scrape of its agent, whose instance type, EFA device count,
/// NVIDIA driver and efa driver are compared with this node's.
/// </summary>
public sealed class PeerCheck : IDoctorCheck
{
    /// <summary>What a timeout almost always means on EC2.</summary>
    public const string SecurityGroupRemedy =
        "almost always the security group: it must allow all traffic from and to itself, inbound and outbound (a rule whose source/destination is the group's own id); then check network ACLs and host firewalls (sudo iptables -S, sudo nft list ruleset)";

    /// <inheritdoc />
    public async Task<IReadOnlyList<CheckResult>> RunAsync(DoctorContext context, CancellationToken cancellationToken)
    {
        var peers = context.Settings.Peers;
        if (peers.Count == 0)
        {
            return [CheckResult.Skip("peers", "no --peer or --hostfile given: connections to the other nodes not tested")];
        }

        using var scraper = new ScrapeClient(context.Settings.Timeout);
        var local = await LocalAsync(context).ConfigureAwait(false);

        // One connection per peer entry, one scrape per host (a host file may name a host twice, with two ports).
        var agentPort = context.Settings.Agent.ListenAddress.Port;
        var connects = peers.Select(p => ConnectAsync(context.Settings, p, cancellationToken)).ToArray();
        var agents = peers.Select(p => p.UrlHost).Distinct(StringComparer.Ordinal)
            .ToDictionary(h => h, h => scraper.ScrapeAsync(new Uri($"http://{h}:{agentPort.ToString(CultureInfo.InvariantCulture)}/metrics"), cancellationToken), StringComparer.Ordinal);
        var results = new List<CheckResult>();
        var timeout = Durations.Format(context.Settings.Timeout);
        for (var i = 0; i < peers.Count; i++)
        {
            results.Add(await connects[i].ConfigureAwait(false));
            if (agents.Remove(peers[i].UrlHost, out var scrape))
            {
                var name = $"peer {peers[i].UrlHost}:{agentPort.ToString(CultureInfo.InvariantCulture)} agent";
                results.Add(Agent(local, name, await scrape.ConfigureAwait(false), timeout));
            }
        }

        return results;
    }

    private static async Task<NodeIdentity> LocalAsync(DoctorContext context)
    {
        var gpus = await context.GpusAsync().ConfigureAwait(false);
        return new NodeIdentity(context.Node.InstanceTypeName, context.Node.EfaDevices.Count, gpus.Error is null ? gpus.DriverVersion : null, context.Node.EfaDriverVersion);
    }

    private static async Task<CheckResult> ConnectAsync(DoctorSettings settings, JobHost peer, CancellationToken ct)
    {
        var port = peer.Port ?? settings.Port;
        var name = $"peer {peer.Display(settings.Port)}";
        var (outcome, error) = await TcpProbe.ConnectAsync(peer.Host, port, settings.Timeout, ct).ConfigureAwait(false);
        return outcome switch
        {
            ConnectOutcome.Connected => CheckResult.Ok(name, "connected: something listens there (the rendezvous of a started job)"),
            ConnectOutcome.Refused => new CheckResult(name, CheckStatus.Warn, string.Create(CultureInfo.InvariantCulture, $"refused: {peer.Host} is reachable but nothing listens on port {port}"),
                "start the job there first (the rendezvous node listens), or check the port (--rdzv_endpoint, MASTER_PORT, --port)"),
            ConnectOutcome.TimedOut => new CheckResult(name, CheckStatus.Fail, $"timed out after {Durations.Format(settings.Timeout)}: no answer at all, something drops the packets", SecurityGroupRemedy),
            _ => new CheckResult(name, CheckStatus.Fail, $"cannot connect: {error}", "check the host name or address (--peer, the host file) and that the node is up"),
        };
    }

    private static CheckResult Agent(NodeIdentity local, string name, ScrapeResult scrape, string timeout)
    {
        if (scrape.Metrics is not { } metrics)
        {
            return scrape.Failure switch
            {
                ScrapeFailure.Refused => new CheckResult(name, CheckStatus.Warn, "no efa-agent there (refused): its instance type, EFA devices and drivers cannot be compared",
                    "install and start efa-agent on every node (deploy/README.md)"),
                ScrapeFailure.TimedOut => new CheckResult(name, CheckStatus.Fail, $"timed out after {timeout}: no answer at all, something drops the packets", SecurityGroupRemedy),
                _ => new CheckResult(name, CheckStatus.Warn, $"cannot read its /metrics: {scrape.Error}"),
            };
        }

        var peer = new NodeIdentity(
            metrics.Series("efa_node_info").Select(s => s.Labels.GetValueOrDefault("instance_type")).FirstOrDefault(),
            metrics.Value("efa_devices") is { } n ? (int)n : null,
            metrics.Series("gpu_info").Select(s => s.Labels.GetValueOrDefault("driver_version")).FirstOrDefault(v => !string.IsNullOrEmpty(v)),
            metrics.Series("efa_driver_info").Select(s => s.Labels.GetValueOrDefault("version")).FirstOrDefault(v => !string.IsNullOrEmpty(v)));
        var differences = new List<string>();
        Compare(differences, "instance type", local.InstanceType, peer.InstanceType);
        Compare(differences, "EFA devices", local.EfaDevices?.ToString(CultureInfo.InvariantCulture), peer.EfaDevices?.ToString(CultureInfo.InvariantCulture));
        Compare(differences, "NVIDIA driver", local.NvidiaDriver, peer.NvidiaDriver);
        Compare(differences, "efa driver", local.EfaDriver, peer.EfaDriver);
        if (differences.Count > 0)
        {
            return new CheckResult(name, CheckStatus.Fail, $"differs from this node: {string.Join("; ", differences)}",
                "run the job on identical nodes (same instance type, AMI, drivers, EFA interfaces): a mixed fleet is a common cause of NCCL hangs");
        }

        return CheckResult.Ok(name, $"same as this node: {peer.InstanceType ?? "no instance type"}, {peer.EfaDevices?.ToString(CultureInfo.InvariantCulture) ?? "?"} EFA devices, NVIDIA driver {peer.NvidiaDriver ?? "none"}, efa driver {peer.EfaDriver ?? "none"}");
    }

    private static void Compare(List<string> differences, string what, string? here, string? there)
    {
        if (!string.Equals(here, there, StringComparison.Ordinal))
        {
            differences.Add($"{what} {there ?? "none"} there, {here ?? "none"} here");
        }
    }

    private sealed record NodeIdentity(string? InstanceType, int? EfaDevices, string? NvidiaDriver, string? EfaDriver);
}
