using System.Globalization;
using System.Text;
using EfaAgent.Agent.Jobs;
using EfaAgent.Agent.Options;

namespace EfaAgent.Agent.Doctor;

/// <summary>
/// <c>efa-agent doctor [--port=N] [--peer=HOST[:PORT]]... [--hostfile=FILE] [--json] [--timeout=D]
/// [--path.rootfs=DIR] [agent flags]</c>: the checks a senior engineer runs on a training node before a
/// job and when one hangs. The agent's own flags that apply (<c>--path.sysfs</c>, <c>--path.procfs</c>,
/// <c>--nvml.library</c>, <c>--web.listen-address</c>) are bound by <see cref="OptionsLoader"/>.
/// Exit code 0 when nothing failed, 1 when a check failed, 2 on a usage error.
/// </summary>
public static class DoctorCommand
{
    /// <summary>Exit code of a usage error.</summary>
    public const int UsageError = 2;

    /// <summary>The packaged agent's settings file, relative to the root (read unless --config.file is given).</summary>
    public const string InstalledConfig = "etc/efa-agent/config.json";

    /// <summary>Parses, runs every check and writes the result; returns the exit code.</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, Func<string, string?> environment, bool stdoutIsTerminal, CancellationToken cancellationToken = default)
    {
        var parsed = Parse(args, environment);
        if (parsed.Help)
        {
            await stdout.WriteAsync(Usage()).ConfigureAwait(false);
            return 0;
        }

        if (parsed.Settings is not { } settings)
        {
            await stderr.WriteLineAsync($"efa-agent doctor: {parsed.Error}").ConfigureAwait(false);
            return UsageError;
        }

        var results = await DoctorRunner.RunAsync(new DoctorContext(settings), DoctorRunner.AllChecks, cancellationToken).ConfigureAwait(false);
        var color = stdoutIsTerminal && string.IsNullOrEmpty(environment("NO_COLOR")) && environment("TERM") != "dumb";
        await stdout.WriteAsync(settings.Json ? DoctorRenderer.Json(results) : DoctorRenderer.Text(results, color)).ConfigureAwait(false);
        return DoctorRunner.ExitCode(results);
    }

    /// <summary>The settings from the command line, or the usage error.</summary>
    public static (DoctorSettings? Settings, string? Error, bool Help) Parse(IReadOnlyList<string> args, Func<string, string?> environment)
    {
        var port = DoctorSettings.DefaultPort;
        var peers = new List<JobHost>();
        var timeout = TimeSpan.FromSeconds(3);
        var rootfs = "/";
        var json = false;
        var rest = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg is "-h" or "--help")
            {
                return (null, null, true);
            }

            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? arg : arg[..eq];
            if (name is not ("--port" or "--peer" or "--hostfile" or "--timeout" or "--path.rootfs" or "--json"))
            {
                rest.Add(arg);
                continue;
            }

            if (name == "--json")
            {
                json = true;
                continue;
            }

            string? value = eq < 0 ? null : arg[(eq + 1)..];
            if (value is null)
            {
                if (i + 1 >= args.Count)
                {
                    return (null, $"flag {name} needs a value", false);
                }

                value = args[++i];
            }

            switch (name)
            {
                case "--port":
                    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
                    {
                        return (null, $"invalid --port \"{value}\": expected a TCP port from 1 to 65535", false);
                    }

                    break;
                case "--peer":
                    if (!HostFile.TryParseTarget(value, out var peer, out var peerError))
                    {
                        return (null, $"invalid --peer \"{value}\": {peerError}", false);
                    }

                    peers.Add(peer);
                    break;
                case "--hostfile":
                    var file = HostFile.Load(value);
                    if (file.Error is not null)
                    {
                        return (null, $"invalid --hostfile \"{value}\": {file.Error}", false);
                    }

                    peers.AddRange(file.Hosts);
                    break;
                case "--timeout":
                    if (!Durations.TryParse(value, out timeout) || timeout < TimeSpan.FromMilliseconds(100) || timeout > TimeSpan.FromMinutes(1))
                    {
                        return (null, $"invalid --timeout \"{value}\": expected a duration from 100ms to 1m, such as 3s", false);
                    }

                    break;
                default:
                    if (!Directory.Exists(value))
                    {
                        return (null, $"invalid --path.rootfs \"{value}\": expected an existing directory", false);
                    }

                    rootfs = Path.GetFullPath(value);
                    break;
            }
        }

        // The installed agent's settings (its unit passes this file), so the doctor finds it where it listens.
        var installed = Path.Combine(rootfs, InstalledConfig);
        if (!rest.Any(a => a.StartsWith("--config.file", StringComparison.Ordinal)) && environment("EFA_AGENT_CONFIG_FILE") is null && File.Exists(installed))
        {
            rest.Insert(0, $"--config.file={installed}");
        }

        var loaded = OptionsLoader.Load(rest, environment);
        if (loaded.Help || loaded.Version)
        {
            return (null, null, true);
        }

        if (loaded.Options is null)
        {
            return (null, loaded.Error, false);
        }

        return (new DoctorSettings { Agent = loaded.Options, Port = port, Peers = peers, Timeout = timeout, RootFs = rootfs, Json = json }, null, false);
    }

    /// <summary>The usage text.</summary>
    public static string Usage()
    {
        var sb = new StringBuilder();
        sb.AppendLine("usage: efa-agent doctor [--port=29500] [--peer=HOST[:PORT]]... [--hostfile=FILE] [--json]");
        sb.AppendLine("                        [--timeout=3s] [--path.rootfs=/] [--path.sysfs=/sys] [--path.procfs=/proc]");
        sb.AppendLine("                        [--nvml.library=libnvidia-ml.so.1] [--nvml.timeout=2s] [--web.listen-address=:19400]");
        sb.AppendLine();
        sb.AppendLine("Checks this node for a multi-node EFA training job: EFA devices against the instance type, GPUs,");
        sb.AppendLine("libfabric and aws-ofi-nccl, the locked-memory limit, who holds the rendezvous port, whether each");
        sb.AppendLine("peer's port connects, is refused or times out (the security group), and the local agent.");
        sb.AppendLine();
        sb.AppendLine("  --port        the rendezvous port (torchrun --rdzv_endpoint=HOST:PORT, MASTER_PORT)");
        sb.AppendLine("  --peer        another node of the job, HOST or HOST:PORT; repeatable");
        sb.AppendLine("  --hostfile    the job's host file (mpirun/torchrun/DeepSpeed format): every host is a peer");
        sb.AppendLine("  --json        write {\"checks\": [{name, status, detail, remedy}], ...} instead of the checklist");
        sb.AppendLine("  --timeout     longest a connection, an HTTP request or fi_info may take");
        sb.AppendLine("  --nvml.timeout  NVML must answer within 5 times this (it starts every GPU without persistence mode)");
        sb.AppendLine("  --path.rootfs root under which /opt, /etc/passwd and fi_info are looked for");
        sb.AppendLine("  The installed agent's /etc/efa-agent/config.json is read when present, as the agent's service does.");
        sb.AppendLine();
        sb.AppendLine("Exit code: 0 nothing failed, 1 a check failed, 2 usage error. NO_COLOR or a pipe: no colour.");
        return sb.ToString();
    }
}
