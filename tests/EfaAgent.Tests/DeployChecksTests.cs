using System.Globalization;
using System.Text.RegularExpressions;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests;

/// <summary>
/// The offline checks under deploy/ (promtool, systemd-analyze, the Grafana checker, shellcheck), run as
/// they are run by hand, so that a change that breaks one fails <c>dotnet test</c>. They need the tools
/// that <c>.ci/run</c> installs; a missing tool fails the test rather than skipping it.
/// </summary>
public partial class DeployChecksTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(5);
    private static readonly string[] MaintainerScripts = ["postinst", "prerm", "postrm"];

    [Fact]
    public void The_Prometheus_check_passes_with_no_step_skipped()
    {
        var result = Script.Bash("deploy/prometheus/check.sh", [], Limit);

        AssertPassed(result, "PASS: all Prometheus checks");
        foreach (var step in new[] { "check rules", "test rules", "relabel prometheus-ec2-sd.yml (fixture)", "alert metadata" })
        {
            Assert.True(result.Output.Contains("-- ok: " + step, StringComparison.Ordinal), $"step '{step}' did not pass. {result.Describe()}");
        }
    }

    [Fact]
    public void The_systemd_check_passes_with_an_exposure_of_at_most_2()
    {
        // The check reads its limit from MAX_EXPOSURE; the test holds it to 2.0 whatever the environment says.
        var result = Script.Bash("deploy/systemd/check.sh", [], Limit, new Dictionary<string, string?> { ["MAX_EXPOSURE"] = null });

        AssertPassed(result, "PASS");
        Assert.True(result.Output.Contains("== systemd-analyze verify\nok: no findings", StringComparison.Ordinal), $"systemd-analyze verify had findings. {result.Describe()}");

        // systemd-analyze's own summary line, not the script's echo of it.
        var scores = OverallExposure().Matches(result.Output);
        Assert.True(scores.Count == 1, $"expected one 'Overall exposure level' line, found {scores.Count}. {result.Describe()}");
        var exposure = double.Parse(scores[0].Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.True(exposure <= 2.0, $"exposure {exposure} is above 2.0. {result.Describe()}");
    }

    [Fact]
    public void The_Grafana_check_passes_with_no_step_skipped()
    {
        var result = Script.Bash("deploy/grafana/check.sh", [], Limit);

        AssertPassed(result, "PASS: all Grafana checks");
        Assert.True(result.Output.Contains("ok: all known to the agent, the recording rules or Prometheus", StringComparison.Ordinal), result.Describe());
        Assert.True(result.Output.Contains("ok: provisioning files", StringComparison.Ordinal), result.Describe());
    }

    [Fact]
    public void Shellcheck_finds_nothing_in_the_shell_scripts_and_the_maintainer_scripts()
    {
        var scripts = Directory.EnumerateFiles(Repo.PathTo("deploy"), "*.sh", SearchOption.AllDirectories)
            .Concat(Directory.EnumerateFiles(Repo.PathTo("tests", "fixtures"), "*.sh"))
            .Append(Repo.PathTo(".ci", "run"))
            .Order(StringComparer.Ordinal)
            .ToList();
        // The glob must have found the scripts, or the test would pass on nothing.
        foreach (var known in new[] { "deploy/check.sh", "deploy/systemd/build-deb.sh", "deploy/systemd/test-package.sh", "deploy/prometheus/check.sh", "deploy/grafana/check.sh" })
        {
            Assert.Contains(Repo.PathTo(known.Split('/')), scripts);
        }

        var bash = Script.Run("shellcheck", scripts, Limit);
        Assert.True(bash.ExitCode == 0 && bash.Output.Length == 0, bash.Describe());

        // dpkg runs the maintainer scripts with /bin/sh (dash on Debian): no bashisms.
        var maintainerScripts = MaintainerScripts
            .Select(s => Repo.PathTo("deploy", "systemd", "debian", s))
            .ToList();
        foreach (var script in maintainerScripts)
        {
            Assert.StartsWith("#!/bin/sh\n", File.ReadAllText(script), StringComparison.Ordinal);
        }

        var sh = Script.Run("shellcheck", ["-s", "sh", .. maintainerScripts], Limit);
        Assert.True(sh.ExitCode == 0 && sh.Output.Length == 0, sh.Describe());
    }

    private static void AssertPassed(ScriptResult result, string lastLine)
    {
        Assert.True(result.ExitCode == 0, result.Describe());
        Assert.True(result.Output.TrimEnd().EndsWith(lastLine, StringComparison.Ordinal), $"the output does not end with '{lastLine}'. {result.Describe()}");
        Assert.False(result.Output.Contains("SKIPPED", StringComparison.Ordinal), $"a step was skipped (a tool is missing; .ci/run installs them). {result.Describe()}");
    }

    [GeneratedRegex(@"Overall exposure level for efa-agent\.service: ([0-9]+\.[0-9]+)")]
    private static partial Regex OverallExposure();
}
