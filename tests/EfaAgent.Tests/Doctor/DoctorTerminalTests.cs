using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Doctor;

/// <summary>The executable in a real terminal (a tmux pane): colour on a terminal, none under NO_COLOR.</summary>
public sealed class DoctorTerminalTests
{
    [SkippableFact]
    public async Task On_a_terminal_the_checklist_is_coloured_and_NO_COLOR_turns_it_off()
    {
        var tmux = ChildProcess.FindOnPath("tmux");
        Skip.If(tmux is null, "needs tmux (Debian package tmux; .ci/run installs it)");
        using var dir = new TempDir();
        var server = dir.Combine("tmux.socket"); // its own server, and no socket file left behind
        var command = $"{AgentProcess.Executable} doctor --path.sysfs={Repo.Fixture("no-efa", "sys")} --nvml.library=/nonexistent/libnvidia-ml.so.1 --web.listen-address=127.0.0.1:{AgentProcess.FreePort()}";
        try
        {
            var coloured = await PaneAsync(tmux!, server, "colour", command);
            Assert.Contains("\u001b[", coloured, StringComparison.Ordinal);
            Assert.Contains("FAIL", coloured, StringComparison.Ordinal);

            var plain = await PaneAsync(tmux!, server, "plain", "env NO_COLOR=1 " + command);
            Assert.DoesNotContain("\u001b[", plain, StringComparison.Ordinal);
            Assert.Contains("FAIL  efa.devices", plain, StringComparison.Ordinal);
        }
        finally
        {
            DoctorRun.Tool(tmux!, "-S", server, "kill-server");
        }
    }

    /// <summary>Runs <paramref name="command"/> in a new tmux session and returns the pane with its escape sequences once the summary is there.</summary>
    private static async Task<string> PaneAsync(string tmux, string server, string session, string command)
    {
        var (code, output) = DoctorRun.Tool(tmux, "-S", server, "new-session", "-d", "-s", session, "-x", "250", "-y", "60", command + "; sleep 60");
        Assert.True(code == 0, $"tmux new-session: {output}");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        var pane = "";
        while (DateTime.UtcNow < deadline)
        {
            (_, pane) = DoctorRun.Tool(tmux, "-S", server, "capture-pane", "-p", "-e", "-t", session);
            if (pane.Contains("NOT READY", StringComparison.Ordinal))
            {
                return pane;
            }

            await Task.Delay(100);
        }

        Assert.Fail($"the doctor's summary never showed in the pane:\n{pane}");
        return pane;
    }
}
