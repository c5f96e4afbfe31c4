using System.Globalization;
using EfaAgent.Collectors.Efa;
using EfaAgent.Collectors.Model;
using EfaAgent.Collectors.Sysfs;

namespace EfaAgent.Agent.Doctor.Checks;

/// <summary>
/// Check 1: the instance type (DMI, never the metadata service), the EFA devices found against the
/// number that type has, each device's port state, rate and ENA netdev, and the efa kernel module.
/// </summary>
public sealed class EfaDevicesCheck : IDoctorCheck
{
    /// <summary>What to do when EFA devices are missing.</summary>
    public const string AttachRemedy =
        "attach one EFA interface per network card: at launch, one --network-interfaces entry with InterfaceType=efa for each " +
        "NetworkCardIndex (0..N-1), or attach the missing ones to the stopped instance; then check again";

    /// <inheritdoc />
    public Task<IReadOnlyList<CheckResult>> RunAsync(DoctorContext context, CancellationToken cancellationToken)
    {
        var node = context.Node;
        IReadOnlyList<CheckResult> results = [Instance(node), Devices(context.Sysfs, node), Driver(node)];
        return Task.FromResult(results);
    }

    private static CheckResult Instance(NodeFacts node)
    {
        const string name = "instance";
        if (node.InstanceTypeName is null)
        {
            return new CheckResult(name, CheckStatus.Warn, "no instance type: devices/virtual/dmi/id/product_name is absent (not an EC2 Nitro instance, or --path.sysfs is not the host's /sys)",
                "run on the instance itself, or point --path.sysfs at the host's /sys");
        }

        if (node.InstanceType is not { } type)
        {
            var known = string.Join(", ", InstanceTypes.All.Select(t => t.Name));
            return new CheckResult(name, CheckStatus.Warn, $"{node.InstanceTypeName} is not an EFA training instance type this tool knows ({known}): device counts cannot be checked");
        }

        return CheckResult.Ok(name, string.Create(CultureInfo.InvariantCulture, $"{type.Name}: {type.Accelerator}, {type.EfaDevices} EFA devices expected"));
    }

    private static CheckResult Devices(string sysfs, NodeFacts node)
    {
        const string name = "efa.devices";
        var devices = node.EfaDevices;
        var expected = node.InstanceType?.EfaDevices;
        if (devices.Count == 0)
        {
            var what = expected is { } e
                ? $"no EFA device, a {node.InstanceTypeName} has {e}: NCCL between nodes would run over TCP sockets"
                : $"no EFA device on this {node.InstanceTypeName ?? "node"}: NCCL between nodes would run over TCP sockets";
            return new CheckResult(name, CheckStatus.Fail, what,
                expected is null ? "use an EFA instance type (p4d, p5, p5en, trn1) and launch it with EFA interfaces" : AttachRemedy);
        }

        var inactive = devices.Where(d => PortState(sysfs, d) is { } s && !s.EndsWith("ACTIVE", StringComparison.Ordinal)).Select(d => d.Name).ToArray();
        var summary = Describe(sysfs, devices);
        if (expected is { } want && devices.Count < want)
        {
            return new CheckResult(name, CheckStatus.Fail,
                string.Create(CultureInfo.InvariantCulture, $"{devices.Count} of {want} EFA devices of a {node.InstanceTypeName} ({summary}): NCCL finds {devices.Count} NIC{(devices.Count == 1 ? "" : "s")} and gets {devices.Count}/{want} of the network bandwidth"),
                AttachRemedy);
        }

        if (inactive.Length > 0)
        {
            return new CheckResult(name, CheckStatus.Fail, $"port not ACTIVE on {string.Join(", ", inactive)} ({summary})",
                "reload the efa driver (sudo modprobe -r efa && sudo modprobe efa) or stop and start the instance");
        }

        var count = expected is { } w ? string.Create(CultureInfo.InvariantCulture, $"{devices.Count} of {w}") : devices.Count.ToString(CultureInfo.InvariantCulture);
        return CheckResult.Ok(name, $"{count} EFA devices: {summary}");
    }

    private static CheckResult Driver(NodeFacts node)
    {
        const string name = "efa.driver";
        if (node.EfaDriverVersion is { } version)
        {
            return CheckResult.Ok(name, $"efa kernel module {version}");
        }

        return node.EfaDevices.Count == 0
            ? CheckResult.Skip(name, "the efa kernel module is not loaded (no module/efa/version)")
            : new CheckResult(name, CheckStatus.Warn, "EFA devices are present but module/efa/version is absent: the driver's version is unknown",
                "check the driver with modinfo efa; the EFA installer (aws-efa-installer) installs a current one");
    }

    /// <summary>One phrase for all devices: names (up to four), port state, rate and ENA netdevs.</summary>
    private static string Describe(string sysfs, IReadOnlyList<RdmaDevice> devices)
    {
        var sorted = devices.Select(d => d.Name).Order(NaturalOrder.Instance).ToArray();
        var names = sorted.Length <= 4 ? string.Join(" ", sorted) : $"{sorted[0]} .. {sorted[^1]}";
        var states = Phrase(devices.Select(d => PortState(sysfs, d) ?? "no port").Select(s => s.Contains(": ", StringComparison.Ordinal) ? s[(s.IndexOf(": ", StringComparison.Ordinal) + 2)..] : s));
        var rates = Phrase(devices.Select(d => RateText((d.Ports.Count > 0 ? d.Ports[0].Rate : null))));
        var paired = devices.Select(d => d.Ports.Count > 0 ? d.Ports[0].Netdev : "").Where(n => n.Length > 0).Order(NaturalOrder.Instance).ToArray();
        var ena = paired.Length == devices.Count ? $"ENA {string.Join(" ", paired)}"
            : paired.Length == 0 ? "all EFA-only (no ENA netdev)"
            : string.Create(CultureInfo.InvariantCulture, $"ENA {string.Join(" ", paired)}, {devices.Count - paired.Length} EFA-only");
        return $"{names}; port {states}, {rates}; {ena}";
    }

    /// <summary>"ACTIVE" when all agree, else each distinct value with its count.</summary>
    private static string Phrase(IEnumerable<string> values)
    {
        var groups = values.GroupBy(v => v, StringComparer.Ordinal).ToArray();
        return groups.Length == 1 ? groups[0].Key : string.Join(", ", groups.Select(g => string.Create(CultureInfo.InvariantCulture, $"{g.Count()}x {g.Key}")));
    }

    private static string RateText(string? rate)
    {
        if (string.IsNullOrEmpty(rate))
        {
            return "no rate";
        }

        var paren = rate.IndexOf(" (", StringComparison.Ordinal);
        return paren > 0 ? rate[..paren] : rate;
    }

    /// <summary>The first port's <c>state</c> (<c>4: ACTIVE</c>; hard-coded by the EFA driver, so only a missing or other value says anything).</summary>
    private static string? PortState(string sysfs, RdmaDevice device) =>
        device.Ports.Count == 0 ? null : SysfsText.TryRead(Path.Combine(sysfs, "class", "infiniband", device.Name, "ports", device.Ports[0].Port, "state"));
}
