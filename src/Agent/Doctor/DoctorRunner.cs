using EfaAgent.Agent.Doctor.Checks;

namespace EfaAgent.Agent.Doctor;

/// <summary>Runs the checks in order and collects their results.</summary>
public static class DoctorRunner
{
    /// <summary>Every check, in the order a person would go through them.</summary>
    public static IReadOnlyList<IDoctorCheck> AllChecks { get; } =
    [
        new EfaDevicesCheck(),
        new GpuCheck(),
        new EfaSoftwareCheck(),
        new MemlockCheck(),
        new PortCheck(),
        new PeerCheck(),
        new AgentCheck(),
    ];

    /// <summary>Runs <paramref name="checks"/>; a check that throws gives one failed result naming the exception.</summary>
    public static async Task<IReadOnlyList<CheckResult>> RunAsync(DoctorContext context, IEnumerable<IDoctorCheck> checks, CancellationToken cancellationToken)
    {
        var results = new List<CheckResult>();
        foreach (var check in checks)
        {
            try
            {
                results.AddRange(await check.RunAsync(context, cancellationToken).ConfigureAwait(false));
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                var name = check.GetType().Name;
                results.Add(new CheckResult(name, CheckStatus.Fail, $"the check itself failed: {e.GetType().Name}: {e.Message}", "report this as a bug of efa-agent doctor, with the line above"));
            }
        }

        return results;
    }

    /// <summary>The exit code: 1 when any check failed, else 0.</summary>
    public static int ExitCode(IEnumerable<CheckResult> results) => results.Any(r => r.Status == CheckStatus.Fail) ? 1 : 0;
}
