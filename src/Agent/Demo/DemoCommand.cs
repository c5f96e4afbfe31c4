using EfaAgent.Agent.Hosting;
using EfaAgent.Agent.Options;
using EfaAgent.Agent.Top;
using EfaAgent.Collectors.Gpu;
using EfaAgent.Collectors.Nvml;

namespace EfaAgent.Agent.Demo;

/// <summary>
/// <c>efa-agent demo [--shape=p4d|p5] [--scenario=NAME] [--nodes=N] [agent flags]</c>: builds a simulated
/// node in a temporary directory, animates it like one node of a DDP training job, and runs the normal
/// agent against that tree, so the whole real read path runs; on a terminal it shows the node in
/// <c>efa-agent top</c>. With <c>--nodes</c>, N such nodes of one job, one agent each, in the job view.
/// Everything it shows is labelled simulated.
/// </summary>
public static class DemoCommand
{
    /// <summary>Scenario names as typed on the command line.</summary>
    public static readonly IReadOnlyDictionary<string, Scenario> Scenarios = new Dictionary<string, Scenario>(StringComparer.Ordinal)
    {
        ["healthy"] = Scenario.Healthy,
        ["socket-fallback"] = Scenario.SocketFallback,
        ["straggler"] = Scenario.Straggler,
        ["efa-errors"] = Scenario.EfaErrors,
        ["missing-efa"] = Scenario.MissingEfa,
        ["gpu-lost"] = Scenario.GpuLost,
    };

    /// <summary>Runs the demo until SIGINT/SIGTERM; returns the exit code.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        var shapeName = "p4d";
        var scenarioName = "healthy";
        var scenarioGiven = false;
        var nodesText = "1";
        var rest = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            var (name, value) = Split(args[i]);
            if (name is "--shape" or "--scenario" or "--nodes")
            {
                if (value is null && i + 1 < args.Length)
                {
                    value = args[++i];
                }

                if (name == "--shape")
                {
                    shapeName = value ?? "";
                }
                else if (name == "--nodes")
                {
                    nodesText = value ?? "";
                }
                else
                {
                    scenarioName = value ?? "";
                    scenarioGiven = true;
                }
            }
            else if (name is "--path.sysfs" or "--path.procfs")
            {
                return Fail($"the demo builds its own {name[2..]} tree; run the agent without 'demo' to read another");
            }
            else
            {
                rest.Add(args[i]);
            }
        }

        if (NodeShape.Find(shapeName) is not { } shape)
        {
            return Fail($"invalid --shape \"{shapeName}\": expected p4d or p5");
        }

        if (!Scenarios.TryGetValue(scenarioName, out var scenario))
        {
            return Fail($"invalid --scenario \"{scenarioName}\": expected one of {string.Join(", ", Scenarios.Keys)}");
        }

        if (!int.TryParse(nodesText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var nodes) || nodes is < 1 or > DemoJob.MaxNodes)
        {
            return Fail($"invalid --nodes \"{nodesText}\": expected 1 to {DemoJob.MaxNodes}");
        }

        if (nodes == 1)
        {
            return await RunOneAsync(shape, scenario, scenarioName, rest).ConfigureAwait(false);
        }

        // A job: every node healthy but the last, which runs the scenario (socket-fallback unless one was named).
        var last = scenarioGiven ? scenario : Scenario.SocketFallback;
        return await DemoJob.RunAsync(shape, nodes, last, Scenarios.First(s => s.Value == last).Key, rest).ConfigureAwait(false);
    }

    /// <summary>Whether the demo shows the live view: stdout is a terminal that can take it.</summary>
    public static bool ShowsView() => !OperatingSystem.IsWindows() && !Console.IsOutputRedirected && TopTerminal.Supported();

    /// <summary>Whether the simulated GPUs are replaced by a real (or test) NVML library named by flag or environment.</summary>
    public static bool RealNvml(IEnumerable<string> args) =>
        args.Any(a => a.StartsWith("--nvml.library", StringComparison.Ordinal))
        || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("EFA_AGENT_NVML_LIBRARY"));

    /// <summary>The simulated GPUs of a node running <paramref name="scenario"/>.</summary>
    public static Func<INvml> SimulatedGpus(NodeShape shape, Scenario scenario) => () => new SimulatedNvml(shape.Gpus)
    {
        StragglerGpu = scenario == Scenario.Straggler ? 5 : null,
        LostGpu = scenario == Scenario.GpuLost ? 3 : null,
    };

    /// <summary>Prints an error the way the demo does and returns the usage exit code.</summary>
    public static int Fail(string message)
    {
        Console.Error.WriteLine($"efa-agent demo: {message}");
        return 2;
    }

    /// <summary>The host part of a URL for <paramref name="a"/>.</summary>
    public static string HostForUrl(ListenAddress a) => a.Host is null ? "localhost" : a.Host.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{a.Host}]" : a.Host.ToString();

    private static async Task<int> RunOneAsync(NodeShape shape, Scenario scenario, string scenarioName, List<string> rest)
    {
        var root = Directory.CreateTempSubdirectory($"efa-agent-demo-{shape.Name}-").FullName;
        try
        {
            using var node = SimulatedNode.Create(root, shape, scenario);
            rest.Add($"--path.sysfs={node.SysfsRoot}");
            rest.Add($"--path.procfs={node.ProcfsRoot}");
            var result = OptionsLoader.Load(rest, Environment.GetEnvironmentVariable);
            if (result.Help)
            {
                Console.Out.Write(OptionsLoader.Usage());
                return 0;
            }

            if (result.Options is null)
            {
                return Fail(result.Error ?? "invalid settings");
            }

            var options = result.Options with { SimulatedShape = shape.InstanceType };

            // Simulated GPUs, unless a real (or test) NVML library was asked for by name.
            var realNvml = RealNvml(rest);
            Func<INvml>? nvml = realNvml ? null : SimulatedGpus(shape, scenario);
            node.Start(TimeSpan.FromMilliseconds(50));
            await Console.Error.WriteLineAsync(
                $"efa-agent demo: SIMULATED {shape.InstanceType} node ({node.EfaDevices} EFA devices, {(realNvml ? "GPUs from " + options.NvmlLibrary : $"{shape.Gpus} simulated GPUs")}), scenario {scenarioName}, " +
                $"built under {root}. No value comes from real hardware.\n" +
                $"efa-agent demo: metrics at http://{HostForUrl(options.ListenAddress)}:{options.ListenAddress.Port}/metrics; Ctrl+C stops.").ConfigureAwait(false);
            if (ShowsView())
            {
                return await DemoJob.ShowAsync([options], [loggers => CollectorFactory.Create(options, loggers, nvml, () => node.Ethtool)], [scenarioName]).ConfigureAwait(false);
            }

            return await AgentHost.RunAsync(options, loggers => CollectorFactory.Create(options, loggers, nvml, () => node.Ethtool), scenarioName).ConfigureAwait(false);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static (string Name, string? Value) Split(string arg)
    {
        var eq = arg.IndexOf('=', StringComparison.Ordinal);
        return eq < 0 ? (arg, null) : (arg[..eq], arg[(eq + 1)..]);
    }

}
