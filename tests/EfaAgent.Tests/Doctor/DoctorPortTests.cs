using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Doctor;

/// <summary>
/// The rendezvous-port check on the machine's real /proc: a socket this test process listens on is
/// found and its owner named; a free port is reported free; a process that cannot read other users'
/// fds says so. The locked-memory check reads the limit the executable was started with.
/// </summary>
public sealed class DoctorPortTests
{
    private static readonly string[] FixtureRoots =
    [
        $"--path.sysfs={Repo.Fixture("p4d-postsplit", "sys")}",
        "--path.procfs=/proc",
        "--nvml.library=/nonexistent/libnvidia-ml.so.1",
        "--json",
    ];

    [Fact]
    public async Task A_port_this_process_listens_on_is_named_with_its_pid_command_user_and_start()
    {
        using var listener = new TcpListener(IPAddress.Any, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;

        var check = (await DoctorRun.RunAsync([.. FixtureRoots, $"--port={port}"])).Checks()[$"port {port}"];

        Assert.Equal("warn", check.Status);
        Assert.Contains($"already in use on 0.0.0.0:{port} by pid {Environment.ProcessId} \"", check.Detail, StringComparison.Ordinal);
        var since = Regex.Match(check.Detail, $@"\(user {Environment.UserName} since (\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d) UTC\)");
        Assert.True(since.Success, check.Detail);
        var started = DateTime.ParseExact(since.Groups[1].Value, "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);
        Assert.InRange(started, Process.GetCurrentProcess().StartTime.ToUniversalTime().AddSeconds(-2), Process.GetCurrentProcess().StartTime.ToUniversalTime().AddSeconds(2));
        Assert.Contains($"kill {Environment.ProcessId}", check.Remedy, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_IPv6_listener_is_found_in_tcp6()
    {
        using var listener = new TcpListener(IPAddress.IPv6Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;

        var check = (await DoctorRun.RunAsync([.. FixtureRoots, $"--port={port}"])).Checks()[$"port {port}"];

        Assert.Equal("warn", check.Status);
        Assert.Contains($"[::1]:{port} by pid {Environment.ProcessId}", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_port_nobody_listens_on_is_free()
    {
        var port = AgentProcess.FreePort();
        var check = (await DoctorRun.RunAsync([.. FixtureRoots, $"--port={port}"])).Checks()[$"port {port}"];
        Assert.Equal("ok", check.Status);
        Assert.Contains("nothing listens", check.Detail, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Without_root_the_owner_of_another_users_socket_is_not_guessed_and_the_reason_is_given()
    {
        Skip.IfNot(Environment.UserName == "root", "needs root, to start the doctor as another user");
        var setpriv = ChildProcess.FindOnPath("setpriv");
        Skip.If(setpriv is null, "needs setpriv (util-linux) to drop to another user");
        using var listener = new TcpListener(IPAddress.Any, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;

        string[] roots = [$"--path.sysfs={OtherUsers.Reachable(Repo.Fixture("p4d-postsplit", "sys"))}", .. FixtureRoots.Skip(1)];
        using var doctor = ChildProcess.Start(setpriv!, ["--reuid=65534", "--regid=65534", "--clear-groups", "--", OtherUsers.Executable, "doctor", .. roots, $"--port={port}"], [new("DOTNET_CLI_HOME", "/tmp"), new("HOME", "/tmp")]);
        await doctor.Process.WaitForExitAsync();

        var output = doctor.Output;
        Assert.Contains($"already in use on 0.0.0.0:{port} by a socket of user root", output, StringComparison.Ordinal);
        Assert.Contains("fds could not be read (that needs root)", output, StringComparison.Ordinal);
        Assert.DoesNotContain($"pid {Environment.ProcessId}", output, StringComparison.Ordinal);
    }

    /// <summary>Lowering a limit needs no privilege (raising it does: the healthy fixture shows "unlimited").</summary>
    [Fact]
    public async Task The_locked_memory_limit_is_the_one_the_doctor_was_started_with()
    {
        using var doctor = ChildProcess.Start("/bin/bash", ["-c", "ulimit -l 64 && exec \"$0\" doctor \"$@\"", AgentProcess.Executable, .. FixtureRoots]);
        await doctor.Process.WaitForExitAsync();

        var start = doctor.Output.IndexOf('{', StringComparison.Ordinal);
        Assert.True(start >= 0, doctor.Output);
        var memlock = new DoctorRun.Outcome(doctor.Process.ExitCode, doctor.Output[start..], "").Checks()["memlock"];
        Assert.Equal("fail", memlock.Status); // the fixture has EFA devices
        Assert.StartsWith("locked memory limited to 64 KiB (hard 64 KiB)", memlock.Detail, StringComparison.Ordinal);
        Assert.Contains("ulimit -l unlimited", memlock.Remedy, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_executable_exits_2_on_a_usage_error_and_1_when_a_check_fails()
    {
        using (var bad = ChildProcess.Start(AgentProcess.Executable, ["doctor", "--port=70000"]))
        {
            await bad.Process.WaitForExitAsync();
            Assert.Equal(2, bad.Process.ExitCode);
            Assert.Contains("invalid --port \"70000\"", bad.Output, StringComparison.Ordinal);
        }

        using var broken = ChildProcess.Start(AgentProcess.Executable, ["doctor", $"--path.sysfs={Repo.Fixture("no-efa", "sys")}", "--nvml.library=/nonexistent/libnvidia-ml.so.1"], [new("NO_COLOR", "1")]);
        await broken.Process.WaitForExitAsync();
        Assert.Equal(1, broken.Process.ExitCode);
        Assert.Contains("FAIL  efa.devices", broken.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b[", broken.Output, StringComparison.Ordinal);
    }
}
