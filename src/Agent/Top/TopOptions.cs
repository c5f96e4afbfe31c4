using EfaAgent.Agent.Jobs;
using EfaAgent.Agent.Options;

namespace EfaAgent.Agent.Top;

/// <summary>The settings of <c>efa-agent top</c>.</summary>
public sealed record TopOptions
{
    /// <summary>The port of an agent when a target names none.</summary>
    public const int DefaultPort = 19400;

    /// <summary>The nodes to read; empty for this node.</summary>
    public IReadOnlyList<JobHost> Targets { get; init; } = [];

    /// <summary>The agents' port where a target names none (host file lines never do).</summary>
    public int Port { get; init; } = DefaultPort;

    /// <summary>Time between refreshes.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest a node may take to answer.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Print one snapshot and exit.</summary>
    public bool Once { get; init; }

    /// <summary>Print the snapshot as JSON (implies <see cref="Once"/>).</summary>
    public bool Json { get; init; }

    /// <summary>Flags for sampling this node in-process when no agent answers (<c>--path.sysfs</c>, <c>--nvml.library</c>, ...).</summary>
    public IReadOnlyList<string> AgentArgs { get; init; } = [];

    /// <summary>The text of <c>efa-agent top --help</c>.</summary>
    public static string Usage() =>
        """
        usage: efa-agent top [HOST[:PORT] ...] [--hostfile FILE] [--port 19400] [--once] [--json] [--interval 1s] [--timeout 2s]

        The live view of one node (default: the agent on localhost:19400, or this node sampled directly
        when no agent answers) or of a whole job (one row per node; Enter opens a node).
          HOST[:PORT]       an agent to read (port 19400 when omitted); several make a job
          --hostfile FILE   the nodes of an mpirun/torchrun host file ("host slots=8", comments)
          --port N          the agents' port where a target names none (default 19400)
          --once            print one snapshot as plain text and exit
          --json            print one snapshot as JSON and exit
          --interval D      time between refreshes (default 1s)
          --timeout D       how long a node may take to answer (default 2s)
          --path.sysfs=DIR, --path.procfs=DIR, --nvml.library=LIB, --no-collector.gpu ...
                            settings for sampling this node when no agent runs
        Keys: q quit, arrows or j/k select, Enter zoom into a node, Esc back, ? help.
        Verdicts use the conditions of the shipped alert rules, evaluated on the last minute of scrapes.
        """;

    /// <summary>Parses the arguments after <c>top</c>; returns the options or an error.</summary>
    public static (TopOptions? Options, string? Error, bool Help) Parse(IReadOnlyList<string> args)
    {
        var options = new TopOptions();
        var targets = new List<JobHost>();
        var agentArgs = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            var name = arg.StartsWith("--", StringComparison.Ordinal) && eq > 0 ? arg[..eq] : arg;
            string? inline = arg.StartsWith("--", StringComparison.Ordinal) && eq > 0 ? arg[(eq + 1)..] : null;
            string? Value() => inline ?? (i + 1 < args.Count ? args[++i] : null);
            switch (name)
            {
                case "-h" or "--help":
                    return (null, null, true);
                case "--once":
                    options = options with { Once = true };
                    break;
                case "--json":
                    options = options with { Json = true, Once = true };
                    break;
                case "--hostfile":
                    var path = Value();
                    if (path is null)
                    {
                        return (null, "--hostfile needs a file", false);
                    }

                    var file = HostFile.Load(path);
                    if (file.Error is not null)
                    {
                        return (null, $"--hostfile {path}: {file.Error}", false);
                    }

                    if (file.Hosts.Count == 0)
                    {
                        return (null, $"--hostfile {path}: no host in the file", false);
                    }

                    targets.AddRange(file.Hosts);
                    break;
                case "--port":
                    var portText = Value();
                    if (!int.TryParse(portText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
                    {
                        return (null, $"invalid --port \"{portText}\": expected 1 to 65535", false);
                    }

                    options = options with { Port = port };
                    break;
                case "--interval" or "--timeout":
                    var text = Value();
                    if (text is null || !Durations.TryParse(text, out var d) || d < TimeSpan.FromMilliseconds(100) || d > TimeSpan.FromMinutes(10))
                    {
                        return (null, $"invalid {name} \"{text}\": expected a duration from 100ms to 10m, such as 1s or 500ms", false);
                    }

                    options = name == "--interval" ? options with { Interval = d } : options with { Timeout = d };
                    break;
                default:
                    if (arg.StartsWith('-'))
                    {
                        // Settings of the in-process sampler; the agent's own option parser checks them.
                        agentArgs.Add(arg);
                    }
                    else if (HostFile.TryParseTarget(arg, out var host, out var error))
                    {
                        targets.Add(host);
                    }
                    else
                    {
                        return (null, $"invalid target \"{arg}\": {error}", false);
                    }

                    break;
            }
        }

        return (options with { Targets = targets, AgentArgs = agentArgs }, null, false);
    }

    /// <summary>The <c>/metrics</c> URL of a target.</summary>
    public Uri MetricsUrl(JobHost host) => new($"http://{host.Display(Port)}/metrics");

    /// <summary>How a target is named on screen: the host, with the port when it is not the default.</summary>
    public string DisplayName(JobHost host) => host.Port is { } p && p != Port ? host.Display(Port) : host.UrlHost;
}
