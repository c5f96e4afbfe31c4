using EfaAgent.Agent.Hosting;
using EfaAgent.Agent.Options;
using EfaAgent.Collectors.Gpu;

namespace EfaAgent.Agent.Demo;

/// <summary>
/// <c>efa-agent demo [--shape=p4d|p5] [--scenario=NAME] [agent flags]</c>: builds a simulated node in a
/// temporary directory, animates it like one node of a DDP training job, and runs the normal agent
/// against that tree, so the whole real read path runs. Everything it shows is labelled simulated.
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
        var rest = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            var (name, value) = Split(args[i]);
            if (name is "--shape" or "--scenario")
            {
                if (value is null && i + 1 < args.Length)
                {
                    value = args[++i];
                }

                if (name == "--shape")
                {
                    shapeName = value ?? "";
                }
                else
                {
                    scenarioName = value ?? "";
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
            var realNvml = rest.Any(a => a.StartsWith("--nvml.library", StringComparison.Ordinal))
                || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("EFA_AGENT_NVML_LIBRARY"));
            Func<INvml>? nvml = realNvml ? null : () => new SimulatedNvml(shape.Gpus)
            {
                StragglerGpu = scenario == Scenario.Straggler ? 5 : null,
                LostGpu = scenario == Scenario.GpuLost ? 3 : null,
            };
            node.Start(TimeSpan.FromMilliseconds(50));
            await Console.Error.WriteLineAsync(
                $"efa-agent demo: SIMULATED {shape.InstanceType} node ({node.EfaDevices} EFA devices, {(realNvml ? "GPUs from " + options.NvmlLibrary : $"{shape.Gpus} simulated GPUs")}), scenario {scenarioName}, " +
                $"built under {root}. No value comes from real hardware.\n" +
                $"efa-agent demo: metrics at http://{HostForUrl(options.ListenAddress)}:{options.ListenAddress.Port}/metrics; Ctrl+C stops.").ConfigureAwait(false);
            return await AgentHost.RunAsync(options, loggers => CollectorFactory.Create(options, loggers, nvml, () => node.Ethtool), scenarioName).ConfigureAwait(false);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static string HostForUrl(ListenAddress a) => a.Host is null ? "localhost" : a.Host.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{a.Host}]" : a.Host.ToString();

    private static (string Name, string? Value) Split(string arg)
    {
        var eq = arg.IndexOf('=', StringComparison.Ordinal);
        return eq < 0 ? (arg, null) : (arg[..eq], arg[(eq + 1)..]);
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine($"efa-agent demo: {message}");
        return 2;
    }
}
