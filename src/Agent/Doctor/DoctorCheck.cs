namespace EfaAgent.Agent.Doctor;

/// <summary>The verdict of one check.</summary>
public enum CheckStatus
{
    /// <summary>As it should be.</summary>
    Ok,

    /// <summary>Works, but worth a look (or cannot be confirmed).</summary>
    Warn,

    /// <summary>Broken: a job on this node will fail, hang or run slow.</summary>
    Fail,

    /// <summary>Does not apply here, or could not run; the detail says why.</summary>
    Skip,
}

/// <summary>What one check found: a name, a verdict, one line of detail and, when not ok, what to do.</summary>
/// <param name="Name">Short and stable (<c>efa.devices</c>, <c>peer 10.0.0.2:29500</c>): scripts match on it.</param>
/// <param name="Status">The verdict.</param>
/// <param name="Detail">One line, in plain words.</param>
/// <param name="Remedy">What to do about it; null when nothing needs doing.</param>
public sealed record CheckResult(string Name, CheckStatus Status, string Detail, string? Remedy = null)
{
    /// <summary>An ok result.</summary>
    public static CheckResult Ok(string name, string detail) => new(name, CheckStatus.Ok, detail);

    /// <summary>A skipped check, with the reason.</summary>
    public static CheckResult Skip(string name, string reason) => new(name, CheckStatus.Skip, reason);
}

/// <summary>
/// One check of <c>efa-agent doctor</c>. A check reads what it needs through the context (roots, the
/// node's facts, NVML) and returns one or more results; it never throws for what it finds on the node
/// (the runner turns an unexpected exception into a failed result).
/// </summary>
public interface IDoctorCheck
{
    /// <summary>Runs the check.</summary>
    Task<IReadOnlyList<CheckResult>> RunAsync(DoctorContext context, CancellationToken cancellationToken);
}
