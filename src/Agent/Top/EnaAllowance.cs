using EfaAgent.Collectors.Ethtool;
using EfaAgent.Collectors.Model;

namespace EfaAgent.Agent.Top;

/// <summary>
/// One ENA allowance whose drops <c>top</c> shows: its name as the <c>allowance</c> label of the
/// alert <c>EnaAllowanceExceeded</c> (<c>bw_out</c>) and its counter, both from the ethtool
/// collector's table (<see cref="EthtoolNames.Ena"/>), so a counter added there shows here.
/// </summary>
/// <param name="Name">The allowance, as the rule labels it: the ethtool statistic without <c>_allowance_exceeded</c>.</param>
/// <param name="Counter">The metric that counts the packets the device queued or dropped over it.</param>
public sealed record EnaAllowance(string Name, string Counter)
{
    private const string StatSuffix = "_allowance_exceeded";

    /// <summary>Every allowance counter of the ethtool table, in its order.</summary>
    public static IReadOnlyList<EnaAllowance> All { get; } =
    [
        .. EthtoolNames.Ena
            .Where(e => e.Family.Type == MetricType.Counter && e.Stat.EndsWith(StatSuffix, StringComparison.Ordinal))
            .Select(e => new EnaAllowance(e.Stat[..^StatSuffix.Length], e.Family.Name)),
    ];

    /// <summary>The names of the counters, for the readings that keep them.</summary>
    public static IReadOnlySet<string> Counters { get; } = All.Select(a => a.Counter).ToHashSet(StringComparer.Ordinal);

    /// <summary>
    /// The part of the rule's expression that turns this counter into a series with its allowance
    /// label: the test of the conditions checks that the rule has it, so the names here and the
    /// rule's labels cannot drift apart.
    /// </summary>
    public AlertCondition Condition => new(AlertConditions.EnaAllowanceExceeded.Rule, $"label_replace(rate({Counter}[5m]), \"allowance\", \"{Name}\", \"\", \"\")");
}
