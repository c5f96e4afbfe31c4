namespace EfaAgent.Tests.Support;

/// <summary>Runs Prometheus' <c>promtool</c> (Debian package <c>prometheus</c>; <c>.ci/run</c> installs it).</summary>
public static class Promtool
{
    /// <summary>Runs promtool with <paramref name="args"/> and <paramref name="stdin"/>; returns exit code and output.</summary>
    public static (int ExitCode, string Output) Run(string stdin, params string[] args) =>
        ChildProcess.Run(
            ChildProcess.FindOnPath("promtool") ?? throw new InvalidOperationException("promtool not found on PATH: install the Debian package 'prometheus' (.ci/run does)"),
            args,
            stdin);

    /// <summary>Asserts that <c>promtool check metrics</c> accepts the exposition, lint warnings included.</summary>
    public static void AssertMetricsValid(string exposition)
    {
        var (code, output) = Run(exposition, "check", "metrics");
        Assert.True(code == 0 && output.Trim().Length == 0, $"promtool check metrics failed ({code}):\n{output}");
    }
}
