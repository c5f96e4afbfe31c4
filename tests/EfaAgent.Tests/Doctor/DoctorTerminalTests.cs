using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Doctor;

/// <summary>The executable in a real terminal (a tmux pane): colour on a terminal, none under NO_COLOR.</summary>
public sealed class DoctorTerminalTests
{
    [SkippableFact]
    public async Task On_a_terminal_the_checklist_is_coloured_and_NO_COLOR_turns_it_off()
    {
        Skip.IfNot(Tmux.Available, "needs tmux (Debian package tmux; .ci/run installs it)");
        var command = $"{AgentProcess.Executable} doctor --path.sysfs={Repo.Fixture("no-efa", "sys")} --nvml.library=/nonexistent/libnvidia-ml.so.1 --web.listen-address=127.0.0.1:{AgentProcess.FreePort()}";

        var coloured = await PaneAsync(command);
        Assert.Contains("\u001b[", coloured, StringComparison.Ordinal);
        Assert.Contains("FAIL", coloured, StringComparison.Ordinal);

        var plain = await PaneAsync("env NO_COLOR=1 " + command);
        Assert.DoesNotContain("\u001b[", plain, StringComparison.Ordinal);
        Assert.Contains("FAIL  efa.devices", plain, StringComparison.Ordinal);
    }

    /// <summary>Runs <paramref name="command"/> in a terminal of its own and returns the pane with its escape sequences once the summary is there.</summary>
    private static async Task<string> PaneAsync(string command)
    {
        using var tmux = Tmux.Start(command + "; sleep 60", 250, 60);
        await tmux.WaitForAsync(s => s.Contains("NOT READY", StringComparison.Ordinal), "the doctor's summary");
        return tmux.Capture(escapes: true);
    }
}
