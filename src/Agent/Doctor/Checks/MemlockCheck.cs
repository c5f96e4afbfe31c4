using EfaAgent.Agent.Doctor.Procfs;
using EfaAgent.Collectors.Sysfs;

namespace EfaAgent.Agent.Doctor.Checks;

/// <summary>
/// Check 3 (continued): the locked-memory limit (<c>RLIMIT_MEMLOCK</c>) libfabric needs to pin every
/// buffer it registers with the EFA device. Read from <c>&lt;procfs&gt;/self/limits</c>, which the kernel
/// fills from the same rlimit getrlimit(2) returns: the doctor's own limit, inherited from the shell or
/// prolog that started it, as a job started the same way would have it.
/// </summary>
public sealed class MemlockCheck : IDoctorCheck
{
    private const string Name = "memlock";

    private const string Remedy =
        "raise it to unlimited where the job starts: ulimit -l unlimited (needs the hard limit), '* - memlock unlimited' in " +
        "/etc/security/limits.d/ (new logins), LimitMEMLOCK=infinity for a systemd service or slurmd, docker run --ulimit memlock=-1";

    /// <inheritdoc />
    public Task<IReadOnlyList<CheckResult>> RunAsync(DoctorContext context, CancellationToken cancellationToken)
    {
        var path = Path.Combine(context.Procfs, "self", "limits");
        var text = SysfsText.TryRead(path);
        IReadOnlyList<CheckResult> result = [Judge(text is null ? null : ProcLimits.Find(text, ProcLimits.LockedMemory), context.Node.EfaDevices.Count > 0, path)];
        return Task.FromResult(result);
    }

    private static CheckResult Judge(ResourceLimit? limit, bool efa, string path)
    {
        if (limit is null)
        {
            return CheckResult.Skip(Name, $"cannot read \"{ProcLimits.LockedMemory}\" from {path}");
        }

        if (limit.Soft is null)
        {
            return CheckResult.Ok(Name, "locked memory unlimited (RLIMIT_MEMLOCK), as libfabric needs");
        }

        var hard = limit.Hard is { } h ? Bytes(h) : "unlimited";
        var limited = $"locked memory limited to {Bytes(limit.Soft.Value)} (hard {hard})";
        var detail = efa
            ? $"{limited}: libfabric cannot pin NCCL's buffers, the job fails registering memory (fi_mr_reg / ibv_reg_mr: Cannot allocate memory)"
            : $"{limited}: no harm without EFA, too little for libfabric on an EFA node";
        return new CheckResult(Name, efa ? CheckStatus.Fail : CheckStatus.Warn, detail, Remedy);
    }

    private static string Bytes(ulong bytes) => bytes switch
    {
        >= 1UL << 30 when bytes % (1UL << 30) == 0 => $"{bytes >> 30} GiB",
        >= 1UL << 20 when bytes % (1UL << 20) == 0 => $"{bytes >> 20} MiB",
        >= 1UL << 10 when bytes % (1UL << 10) == 0 => $"{bytes >> 10} KiB",
        _ => $"{bytes} bytes",
    };
}
