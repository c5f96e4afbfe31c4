namespace EfaAgent.Agent.Top;

/// <summary>The nodes of a job side by side, and the straggler among them.</summary>
/// <param name="Nodes">The nodes, in the order of the host file or command line.</param>
/// <param name="Stragglers">Per node (same order): why it is the straggler, or null.</param>
public sealed record JobView(IReadOnlyList<NodeView> Nodes, IReadOnlyList<string?> Stragglers)
{
    /// <summary>
    /// A node is a straggler when its mean GPU utilisation or its EFA throughput is below this share
    /// of the job's median. In a synchronous job every rank waits for the slowest, so one node at
    /// half the others' pace is the one to look at.
    /// </summary>
    public const double StragglerShare = 0.5;

    /// <summary>Below this median GPU utilisation the job is not computing and nobody straggles.</summary>
    public const double BusyGpuMedian = 0.2;

    /// <summary>Builds the job view, with its stragglers, from the nodes' latest views.</summary>
    public static JobView From(IReadOnlyList<NodeView> nodes)
    {
        var stragglers = new string?[nodes.Count];
        var up = nodes.Where(n => !n.Down).ToList();
        if (up.Count >= 2)
        {
            var gpuMedian = Median(up.Select(n => n.Totals.GpuMean));
            var efaMedian = Median(up.Select(n => n.Totals.EfaTransmit));
            for (var i = 0; i < nodes.Count; i++)
            {
                var n = nodes[i];
                if (n.Down)
                {
                    continue;
                }

                if (gpuMedian > BusyGpuMedian && n.Totals.GpuMean < StragglerShare * gpuMedian)
                {
                    stragglers[i] = $"GPU utilisation {Units.Ratio(n.Totals.GpuMean)}, job median {Units.Ratio(gpuMedian)}";
                }
                else if (efaMedian > AlertConditions.EfaBusy.Threshold && n.Totals.EfaTransmit < StragglerShare * efaMedian)
                {
                    stragglers[i] = $"EFA transmit {Units.Rate(n.Totals.EfaTransmit)}, job median {Units.Rate(efaMedian)}";
                }
            }
        }

        return new JobView(nodes, stragglers);
    }

    /// <summary>The median of the values that exist; null when none does.</summary>
    public static double? Median(IEnumerable<double?> values)
    {
        var v = values.Where(x => x is not null).Select(x => x!.Value).Order().ToList();
        if (v.Count == 0)
        {
            return null;
        }

        return v.Count % 2 == 1 ? v[v.Count / 2] : (v[(v.Count / 2) - 1] + v[v.Count / 2]) / 2;
    }
}
