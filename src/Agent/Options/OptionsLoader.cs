using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Serilog.Events;

namespace EfaAgent.Agent.Options;

/// <summary>One setting: its flag name, default and help. The same name is the config-file key and,
/// upper-cased with <c>.</c> and <c>-</c> as <c>_</c> behind <c>EFA_AGENT_</c>, the environment variable.</summary>
public sealed record Flag(string Name, string Default, string Help, bool IsBool = false)
{
    /// <summary>The environment variable that sets this flag.</summary>
    public string EnvironmentVariable => "EFA_AGENT_" + Name.ToUpperInvariant().Replace('.', '_').Replace('-', '_');
}

/// <summary>What the command line asked for.</summary>
public sealed record LoadResult(AgentOptions? Options, string? Error, bool Help = false, bool Version = false);

/// <summary>
/// Binds the agent's settings from one table, in node_exporter's style: defaults, then the optional
/// JSON config file (<c>--config.file</c>), then <c>EFA_AGENT_*</c> environment variables, then flags
/// (<c>--name=value</c>, <c>--name value</c>, <c>--flag</c> / <c>--no-flag</c>). Every value is checked;
/// the first bad one gives a single line naming the setting, the value and what is accepted.
/// </summary>
public static class OptionsLoader
{
    /// <summary>The default port: outside 9100-9999, where the common exporters live.</summary>
    public const int DefaultPort = 19400;

    /// <summary>Every setting.</summary>
    public static readonly Flag[] Flags =
    [
        new("web.listen-address", $":{DefaultPort}", "Address to serve /metrics on: [host]:port; an empty host means all interfaces."),
        new("path.sysfs", "/sys", "sysfs mount point."),
        new("path.procfs", "/proc", "procfs mount point."),
        new("sample.interval", "250ms", "How often counters are read (10ms..60s)."),
        new("discovery.interval", "5s", "How often devices are looked for and slow counters read (1s..10m, at least sample.interval)."),
        new("burst.window", "15s", "Window of the peak-throughput gauges (sample.interval..1h)."),
        new("collector.efa", "true", "Enable the EFA/RDMA collector (--no-collector.efa disables).", IsBool: true),
        new("collector.netdev", "true", "Enable the /proc/net/dev collector.", IsBool: true),
        new("collector.gpu", "true", "Enable the NVML GPU collector.", IsBool: true),
        new("collector.ethtool", "true", "Enable the ethtool collector (driver info, ENA allowance counters), read every discovery.interval.", IsBool: true),
        new("collector.ethtool.all", "false", "Export every ethtool statistic of every interface (ethtool_stat_*), not only the ENA allowances.", IsBool: true),
        new("collector.netdev.device-include", "", "Regex of interfaces to export (whole name); empty for all. Applies to the netdev and ethtool collectors."),
        new("collector.netdev.device-exclude", "", "Regex of interfaces not to export (whole name); empty for none. Applies to the netdev and ethtool collectors."),
        new("collector.gpu.kmsg-path", "/dev/kmsg", "Kernel log read for the NVIDIA driver's Xid lines, from its end (empty: none)."),
        new("nvml.library", "libnvidia-ml.so.1", "NVML library to load (a soname or a path)."),
        new("nvml.timeout", "2s", "Longest an NVML call may take before the GPU collector reports a stall (100ms..60s)."),
        new("log.format", "text", "Log format: text or json."),
        new("log.level", "info", "Log level: debug, info, warn or error."),
        new("web.max-requests", "40", "Most scrape requests served at once; more are answered 503 at once (0 for no limit)."),
        new("web.config.file", "", "Optional YAML file for TLS and basic auth, in the Prometheus exporter-toolkit format; re-read when it changes."),
        new("config.file", "", "Optional JSON file of settings: {\"sample.interval\": \"250ms\", ...}."),
    ];

    /// <summary>The largest config file read: a settings file is a few hundred bytes.</summary>
    public const int MaxConfigFileBytes = 1024 * 1024;

    private static readonly Dictionary<string, Flag> ByName = Flags.ToDictionary(f => f.Name, StringComparer.Ordinal);

    /// <summary>Binds and validates. <paramref name="environment"/> is looked up by variable name.</summary>
    public static LoadResult Load(IReadOnlyList<string> args, Func<string, string?> environment)
    {
        var values = Flags.ToDictionary(f => f.Name, f => f.Default, StringComparer.Ordinal);

        // Flags first (into their own map) so that --config.file is known before the file is read.
        var fromArgs = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg is "-h" or "--help")
            {
                return new LoadResult(null, null, Help: true);
            }

            if (arg is "--version")
            {
                return new LoadResult(null, null, Version: true);
            }

            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                return Fail($"unexpected argument \"{arg}\"; settings are given as --name=value (see --help)");
            }

            var body = arg[2..];
            var eq = body.IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? body : body[..eq];
            string? value = eq < 0 ? null : body[(eq + 1)..];
            if (!ByName.TryGetValue(name, out var flag))
            {
                if (value is null && name.StartsWith("no-", StringComparison.Ordinal) && ByName.TryGetValue(name[3..], out var negated) && negated.IsBool)
                {
                    fromArgs[negated.Name] = "false";
                    continue;
                }

                return Fail($"unknown flag --{name} (see --help)");
            }

            if (value is null)
            {
                if (flag.IsBool)
                {
                    value = "true";
                }
                else if (i + 1 < args.Count)
                {
                    value = args[++i];
                }
                else
                {
                    return Fail($"flag --{name} needs a value");
                }
            }

            fromArgs[flag.Name] = value;
        }

        var configFile = fromArgs.GetValueOrDefault("config.file") ?? environment(ByName["config.file"].EnvironmentVariable);
        if (!string.IsNullOrEmpty(configFile))
        {
            var error = ReadConfigFile(configFile, values);
            if (error is not null)
            {
                return Fail(error);
            }
        }

        foreach (var flag in Flags)
        {
            if (environment(flag.EnvironmentVariable) is { } env)
            {
                values[flag.Name] = env;
            }
        }

        foreach (var (name, value) in fromArgs)
        {
            values[name] = value;
        }

        return Bind(values);
    }

    /// <summary>The usage text.</summary>
    public static string Usage()
    {
        var sb = new StringBuilder();
        sb.AppendLine("usage: efa-agent [--name=value ...]         run the agent");
        sb.AppendLine("       efa-agent demo [--shape=p4d|p5] [--scenario=NAME] [--nodes=N] [--name=value ...]");
        sb.AppendLine("                                             run it on a simulated training node (or job)");
        sb.AppendLine("       efa-agent top [HOST[:PORT] ...] [--hostfile FILE] [--once] [--json]");
        sb.AppendLine("                                             the live view of a node or a job (top --help)");
        sb.AppendLine("       efa-agent doctor [--port=N] [--peer=HOST[:PORT]]... [--json] [--name=value ...]");
        sb.AppendLine("                                             check this node before a job (doctor --help)");
        sb.AppendLine();
        sb.AppendLine("Settings (flag, then EFA_AGENT_* variable; also keys of --config.file):");
        foreach (var f in Flags)
        {
            var shown = f.IsBool ? $"--[no-]{f.Name}" : $"--{f.Name}=\"{f.Default}\"";
            sb.Append(CultureInfo.InvariantCulture, $"  {shown}\n      {f.Help}\n      env {f.EnvironmentVariable}\n");
        }

        return sb.ToString();
    }

    private static LoadResult Fail(string error) => new(null, error);

    private static string? ReadConfigFile(string path, Dictionary<string, string> values)
    {
        string text;
        try
        {
            text = EfaAgent.Collectors.Sysfs.RegularFile.ReadAllText(path, MaxConfigFileBytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"invalid --config.file \"{path}\": {e.Message}";
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            using var doc = JsonDocument.Parse(text, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                return $"invalid --config.file \"{path}\": expected a JSON object of settings";
            }

            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (!ByName.ContainsKey(p.Name) || p.Name == "config.file")
                {
                    return $"invalid --config.file \"{path}\": unknown setting \"{p.Name}\" (accepted: {string.Join(", ", Flags.Where(f => f.Name != "config.file").Select(f => f.Name))})";
                }

                if (!seen.Add(p.Name))
                {
                    return $"invalid --config.file \"{path}\": setting \"{p.Name}\" is given twice";
                }

                values[p.Name] = p.Value.ValueKind switch
                {
                    JsonValueKind.String => p.Value.GetString()!,
                    JsonValueKind.True => "true",
                    JsonValueKind.False => "false",
                    JsonValueKind.Number => p.Value.GetRawText(),
                    _ => $"<{p.Value.ValueKind}>",
                };
            }
        }
        catch (JsonException e)
        {
            return $"invalid --config.file \"{path}\": not valid JSON ({e.Message})";
        }

        return null;
    }

    private static LoadResult Bind(Dictionary<string, string> v)
    {
        try
        {
            var interval = Duration(v, "sample.interval", TimeSpan.FromMilliseconds(10), TimeSpan.FromSeconds(60));
            var options = new AgentOptions
            {
                ListenAddress = Listen(v["web.listen-address"]),
                SysfsRoot = Root(v, "path.sysfs"),
                ProcfsRoot = Root(v, "path.procfs"),
                SampleInterval = interval,
                DiscoveryInterval = DiscoveryInterval(v, interval),
                BurstWindow = Duration(v, "burst.window", interval, TimeSpan.FromHours(1)),
                EfaEnabled = Bool(v, "collector.efa"),
                NetdevEnabled = Bool(v, "collector.netdev"),
                GpuEnabled = Bool(v, "collector.gpu"),
                EthtoolEnabled = Bool(v, "collector.ethtool"),
                EthtoolAll = Bool(v, "collector.ethtool.all"),
                NetdevInclude = Regex(v, "collector.netdev.device-include"),
                NetdevExclude = Regex(v, "collector.netdev.device-exclude"),
                GpuKernelLogPath = v["collector.gpu.kmsg-path"],
                NvmlLibrary = NonEmpty(v, "nvml.library"),
                NvmlTimeout = Duration(v, "nvml.timeout", TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(60)),
                MaxRequests = Count(v, "web.max-requests", 0, 10_000),
                WebConfigFile = WebConfigFile(v),
                LogFormat = v["log.format"] switch
                {
                    "text" => LogFormat.Text,
                    "json" => LogFormat.Json,
                    var other => throw Invalid("log.format", other, "text or json"),
                },
                LogLevel = v["log.level"] switch
                {
                    "debug" => LogEventLevel.Debug,
                    "info" => LogEventLevel.Information,
                    "warn" => LogEventLevel.Warning,
                    "error" => LogEventLevel.Error,
                    var other => throw Invalid("log.level", other, "debug, info, warn or error"),
                },
            };
            return new LoadResult(options, null);
        }
        catch (InvalidSettingException e)
        {
            return Fail(e.Message);
        }
    }

    /// <summary>
    /// The discovery interval must be at least the sample interval. When only the sample interval was
    /// raised past the discovery default, the message names both settings, not only the one the user
    /// never set.
    /// </summary>
    private static TimeSpan DiscoveryInterval(Dictionary<string, string> v, TimeSpan sample)
    {
        var d = Duration(v, "discovery.interval", TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(10));
        if (d < sample)
        {
            throw new InvalidSettingException(
                $"invalid --discovery.interval \"{v["discovery.interval"]}\": it must be at least --sample.interval \"{v["sample.interval"]}\"; raise --discovery.interval or lower --sample.interval");
        }

        return d;
    }

    private static int Count(Dictionary<string, string> v, string name, int min, int max) =>
        int.TryParse(v[name], NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw Invalid(name, v[name], $"a whole number from {min} to {max}");

    private static string? WebConfigFile(Dictionary<string, string> v)
    {
        var path = v["web.config.file"];
        if (path.Length == 0)
        {
            return null;
        }

        try
        {
            _ = Web.WebConfig.Load(path);
        }
        catch (Web.WebConfigException e)
        {
            throw new InvalidSettingException($"invalid --web.config.file \"{path}\": {e.Message}");
        }

        return Path.GetFullPath(path);
    }

    private static InvalidSettingException Invalid(string name, string value, string accepted) =>
        new($"invalid --{name} \"{value}\": expected {accepted}");

    private static TimeSpan Duration(Dictionary<string, string> v, string name, TimeSpan min, TimeSpan max)
    {
        var text = v[name];
        var range = $"a duration such as 250ms, 5s or 1m, from {Durations.Format(min)} to {Durations.Format(max)}";
        if (!Durations.TryParse(text, out var d) || d < min || d > max)
        {
            throw Invalid(name, text, range);
        }

        return d;
    }

    private static bool Bool(Dictionary<string, string> v, string name) => v[name].ToLowerInvariant() switch
    {
        "true" or "1" or "yes" => true,
        "false" or "0" or "no" => false,
        var other => throw Invalid(name, other, "true or false"),
    };

    private static string NonEmpty(Dictionary<string, string> v, string name) =>
        string.IsNullOrWhiteSpace(v[name]) ? throw Invalid(name, v[name], "a non-empty value") : v[name];

    private static string Root(Dictionary<string, string> v, string name)
    {
        var path = v[name];
        if (string.IsNullOrWhiteSpace(path) || !Directory.Exists(path))
        {
            throw Invalid(name, path, "an existing directory");
        }

        return Path.GetFullPath(path);
    }

    private static Regex? Regex(Dictionary<string, string> v, string name)
    {
        var text = v[name];
        if (text.Length == 0)
        {
            return null;
        }

        try
        {
            return new Regex($"^(?:{text})$", RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
        }
        catch (ArgumentException e)
        {
            throw Invalid(name, text, $"a regular expression ({e.Message})");
        }
    }

    private static ListenAddress Listen(string text)
    {
        const string accepted = "[host]:port, e.g. :19400, 127.0.0.1:19400 or [::1]:19400, with a port from 1 to 65535";
        var colon = text.LastIndexOf(':');
        if (colon < 0 || !int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            throw Invalid("web.listen-address", text, accepted);
        }

        var host = text[..colon];
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }

        if (host.Length == 0 || host is "0.0.0.0" or "::")
        {
            return new ListenAddress(null, port);
        }

        if (host == "localhost")
        {
            return new ListenAddress(IPAddress.Loopback, port);
        }

        return IPAddress.TryParse(host, out var ip) ? new ListenAddress(ip, port) : throw Invalid("web.listen-address", text, accepted);
    }

    private sealed class InvalidSettingException(string message) : Exception(message);
}
