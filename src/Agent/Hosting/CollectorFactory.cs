using EfaAgent.Agent.Options;
using EfaAgent.Collectors;
using EfaAgent.Collectors.Efa;
using EfaAgent.Collectors.NetDev;
using Microsoft.Extensions.Logging;

namespace EfaAgent.Agent.Hosting;

/// <summary>Creates the enabled collectors, in a fixed order, each with a logger named after it.</summary>
public static class CollectorFactory
{
    /// <summary>Creates the collectors <paramref name="options"/> enables.</summary>
    public static IReadOnlyList<ICollector> Create(AgentOptions options, ILoggerFactory loggers)
    {
        var list = new List<ICollector>();
        if (options.EfaEnabled)
        {
            list.Add(new EfaCollector(
                new EfaCollectorOptions(options.SysfsRoot, options.SampleInterval, options.BurstWindow),
                loggers.CreateLogger(EfaCollector.CollectorName)));
        }

        if (options.NetdevEnabled)
        {
            list.Add(new NetDevCollector(
                new NetDevCollectorOptions(options.ProcfsRoot, options.NetdevInclude, options.NetdevExclude, options.SampleInterval, options.BurstWindow),
                loggers.CreateLogger(NetDevCollector.CollectorName)));
        }

        return list;
    }
}
