using System.Globalization;
using EfaAgent.Agent.Doctor.Procfs;

namespace EfaAgent.Agent.Doctor.Checks;

/// <summary>
/// Check 4: whether something on this node already listens on the rendezvous port, and if so which
/// process (pid, command line, user, start time), from <c>/proc/net/tcp</c>, <c>tcp6</c> and the
/// processes' fds under <c>--path.procfs</c>. Works without lsof.
/// </summary>
public sealed class PortCheck : IDoctorCheck
{
    /// <inheritdoc />
    public Task<IReadOnlyList<CheckResult>> RunAsync(DoctorContext context, CancellationToken cancellationToken)
    {
        IReadOnlyList<CheckResult> result = [Check(context)];
        return Task.FromResult(result);
    }

    private static CheckResult Check(DoctorContext context)
    {
        var port = context.Settings.Port;
        var name = string.Create(CultureInfo.InvariantCulture, $"port {port}");
        var listeners = new List<TcpListenSocket>();
        var read = 0;
        foreach (var file in new[] { "tcp", "tcp6" })
        {
            var text = ProcessInfo.ReadAll(Path.Combine(context.Procfs, "net", file));
            if (text is not null)
            {
                read++;
                listeners.AddRange(ProcNetTcp.ParseListeners(text, out _).Where(l => l.Port == port));
            }
        }

        if (read == 0)
        {
            return CheckResult.Skip(name, $"cannot read net/tcp or net/tcp6 under {context.Procfs}");
        }

        if (listeners.Count == 0)
        {
            return CheckResult.Ok(name, string.Create(CultureInfo.InvariantCulture, $"nothing listens on port {port} here: free for the rendezvous"));
        }

        var ownership = SocketOwners.Find(context.Procfs, listeners.Select(l => l.Inode).ToArray());
        var passwd = ProcessInfo.ReadAll(context.Settings.UnderRoot("etc", "passwd"));
        var endpoints = string.Join(" ", listeners.Select(l => l.Endpoint).Distinct(StringComparer.Ordinal));
        var pids = listeners.SelectMany(l => ownership.Owners.TryGetValue(l.Inode, out var p) ? p : []).Distinct().Order().ToArray();
        string who;
        string remedy;
        if (pids.Length > 0)
        {
            who = string.Join("; ", pids.Select(pid => Describe(ProcessInfo.Read(context.Procfs, pid), passwd)));
            var pidList = string.Join(" ", pids.Select(p => p.ToString(CultureInfo.InvariantCulture)));
            remedy = string.Create(CultureInfo.InvariantCulture,
                $"if this is not the job you are starting (a stale process of an earlier run), stop it: kill {pidList} (kill -9 {pidList} if it stays); or give the job another port (--rdzv_endpoint=HOST:{NextPort(port)}, MASTER_PORT)");
        }
        else
        {
            var users = string.Join(", ", listeners.Select(l => User(l.Uid, passwd)).Distinct(StringComparer.Ordinal));
            var why = ownership.Denied > 0
                ? string.Create(CultureInfo.InvariantCulture, $"its process is not visible: {ownership.Denied} processes' fds could not be read (that needs root)")
                : "no process holds its socket (in another container or network namespace?)";
            who = $"a socket of user {users}; {why}";
            remedy = string.Create(CultureInfo.InvariantCulture, $"run efa-agent doctor with sudo to name the process, then stop it; or give the job another port (--rdzv_endpoint=HOST:{NextPort(port)})");
        }

        return new CheckResult(name, CheckStatus.Warn, $"already in use on {endpoints} by {who}", remedy);
    }

    private static string Describe(ProcessInfo p, string? passwd)
    {
        const int maxCommand = 160;
        var command = p.CommandLine.Length > maxCommand ? p.CommandLine[..(maxCommand - 3)] + "..." : p.CommandLine;
        var user = p.Uid is { } uid ? User(uid, passwd) : "unknown user";
        var since = p.Started is { } s ? " since " + s.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture) : "";
        return string.Create(CultureInfo.InvariantCulture, $"pid {p.Pid} \"{command}\" (user {user}{since})");
    }

    private static string User(uint uid, string? passwd) =>
        ProcessInfo.UserName(passwd, uid) ?? uid.ToString(CultureInfo.InvariantCulture);

    private static int NextPort(int port) => port < 65535 ? port + 1 : port - 1;
}
