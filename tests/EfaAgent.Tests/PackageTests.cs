using EfaAgent.Tests.Support;

namespace EfaAgent.Tests;

/// <summary>
/// Builds the Debian package once (deploy/systemd/build-deb.sh: a NativeAOT publish, about a minute) for
/// all of <see cref="PackageTests"/>, in a temporary directory removed afterwards.
/// </summary>
public sealed class PackageFixture : IDisposable
{
    /// <summary>The version the test package is built with.</summary>
    public const string Version = "0.0.0~test";

    private readonly TempDir _dir = new();

    /// <summary>Builds the package.</summary>
    public PackageFixture()
    {
        Deb = _dir.Combine($"efa-agent_{Version}_amd64.deb");
        Build = PackageTests.TestPackage(TimeSpan.FromMinutes(10), Deb, "build");
    }

    /// <summary>The package file.</summary>
    public string Deb { get; }

    /// <summary>How the build went.</summary>
    public ScriptResult Build { get; }

    /// <inheritdoc />
    public void Dispose() => _dir.Dispose();
}

/// <summary>
/// The Debian package, tested by deploy/systemd/test-package.sh one step per test: control fields, file
/// list, the packaged agent running on a fixture, lintian, and the maintainer scripts against a throwaway
/// root with stub user and systemctl commands.
/// </summary>
public class PackageTests(PackageFixture package) : IClassFixture<PackageFixture>
{
    private static readonly TimeSpan StepLimit = TimeSpan.FromMinutes(2);

    [Fact]
    public void The_control_area_has_the_fields_conffiles_and_executable_maintainer_scripts()
    {
        var result = Step("info");
        Assert.Contains("ok: Package: efa-agent", result.Output, StringComparison.Ordinal);
        Assert.Contains($"ok: Version: {PackageFixture.Version}", result.Output, StringComparison.Ordinal);
        Assert.Contains("ok: Architecture: amd64", result.Output, StringComparison.Ordinal);
        Assert.Contains("ok: Depends has libc6", result.Output, StringComparison.Ordinal);
        Assert.Contains("ok: Depends has adduser", result.Output, StringComparison.Ordinal);
        Assert.Contains("ok: conffiles (2 lines)", result.Output, StringComparison.Ordinal);
        foreach (var script in new[] { "postinst", "prerm", "postrm" })
        {
            Assert.Contains($"ok: {script}: present, executable, #!/bin/sh", result.Output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_data_area_holds_exactly_the_expected_files_with_their_modes_and_root_ownership()
    {
        var result = Step("contents");
        Assert.Contains("ok: contents (mode owner path) (24 lines)", result.Output, StringComparison.Ordinal);
        Assert.Contains("ok: md5sums match", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void The_packaged_agent_serves_metrics_with_the_packaged_config_and_stops_cleanly_on_SIGTERM()
    {
        var result = Step("run");
        Assert.Contains($"ok: --version: efa-agent {PackageFixture.Version}", result.Output, StringComparison.Ordinal);
        Assert.Contains("ok: /metrics has efa_port_tx_bytes_total", result.Output, StringComparison.Ordinal);
        Assert.Contains("ok: under memory-deny-write-execute, with NVML loaded: 8 GPUs up", result.Output, StringComparison.Ordinal);
        Assert.Contains("ok: exit status after SIGTERM: 0", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Lintian_finds_no_errors_or_warnings()
    {
        var result = Step("lintian");
        Assert.Contains("ok: lintian: no errors or warnings", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void The_maintainer_scripts_install_upgrade_remove_and_purge_and_can_each_run_twice()
    {
        var result = Step("maintscripts");
        foreach (var scenario in new[] { "systemd", "image", "passwd-only" })
        {
            Assert.Contains($"-- scenario: {scenario} ", result.Output, StringComparison.Ordinal);
        }

        Assert.Contains("ok: postinst configure '': exit 0, 5 changing call(s)", result.Output, StringComparison.Ordinal);
        Assert.Contains("ok: postrm purge: exit 0, 4 changing call(s)", result.Output, StringComparison.Ordinal);
    }

    /// <summary>Runs test-package.sh on the fixture's package (or builds it, for "build").</summary>
    internal static ScriptResult TestPackage(TimeSpan limit, string deb, params string[] steps) =>
        Script.Bash(
            "deploy/systemd/test-package.sh",
            [PackageFixture.Version, deb, .. steps],
            limit,
            new Dictionary<string, string?>
            {
                // No MSBuild nodes or compiler server outliving the publish: they would hold the output pipe.
                ["MSBUILDDISABLENODEREUSE"] = "1",
                ["UseSharedCompilation"] = "false",
                ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
                ["DOTNET_NOLOGO"] = "1",
            });

    private ScriptResult Step(string step)
    {
        Assert.True(package.Build.ExitCode == 0, "building the package failed: " + package.Build.Describe());
        var result = TestPackage(StepLimit, package.Deb, step);
        Assert.True(result.ExitCode == 0, result.Describe());
        Assert.Contains($"-- ok: {step}", result.Output, StringComparison.Ordinal);
        return result;
    }
}
