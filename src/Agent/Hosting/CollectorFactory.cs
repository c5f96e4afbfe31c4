using EfaAgent.Agent.Options;
using EfaAgent.Collectors.Nvml;
using EfaAgent.Collectors;
using EfaAgent.Collectors.Efa;
using EfaAgent.Collectors.Ethtool;
using EfaAgent.Collectors.Gpu;
using EfaAgent.Collectors.Interop;
using EfaAgent.Collectors.NetDev;
using Microsoft.Extensions.Logging;

namespace EfaAgent.Agent.Hosting;

/// <summary>Creates the enabled collectors, in a fixed order, each with a logger named after it.</summary>
public static class CollectorFactory
{
    /// <summary>Creates the collectors <paramref name="options"/> enables.</summary>
    /// <param name="options">The settings.</param>
    /// <param name="loggers">Where the collectors log.</param>
    /// <param name="nvml">The NVML to use instead of loading <see cref="AgentOptions.NvmlLibrary"/> (the demo's simulated GPUs).</param>
    /// <param name="ethtool">The ethtool channel to use instead of the kernel's (the demo's simulated ENA interfaces).</param>
    public static IReadOnlyList<ICollector> Create(AgentOptions options, ILoggerFactory loggers, Func<INvml>? nvml = null, Func<IEthtool>? ethtool = null)
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

        if (options.GpuEnabled)
        {
            var gpuOptions = new GpuCollectorOptions(options.NvmlLibrary, options.SampleInterval, options.NvmlTimeout, options.SysfsRoot)
            {
                KernelLogPath = options.GpuKernelLogPath,
            };
            var logger = loggers.CreateLogger(GpuCollector.CollectorName);
            list.Add(new GpuCollector(gpuOptions, nvml ?? (() => NvmlLibrary.Load(gpuOptions.LibraryPath)), logger));
        }

        if (options.EthtoolEnabled)
        {
            list.Add(new EthtoolCollector(
                new EthtoolCollectorOptions(options.SysfsRoot, options.NetdevInclude, options.NetdevExclude, options.EthtoolAll),
                ethtool ?? EthtoolSocket.Open,
                loggers.CreateLogger(EthtoolCollector.CollectorName)));
        }

        return list;
    }
}
