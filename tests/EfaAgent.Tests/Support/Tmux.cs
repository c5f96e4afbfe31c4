namespace EfaAgent.Tests.Support;

/// <summary>
/// A real terminal: a tmux server of its own (Debian package <c>tmux</c>; <c>.ci/run</c> installs it)
/// running one command in a detached session, read with <c>capture-pane</c>, driven with
/// <c>send-keys</c> and <c>resize-window</c>. Disposing kills the server.
/// </summary>
public sealed class Tmux : IDisposable
{
    private readonly string _socket = $"efa-agent-test-{Guid.NewGuid():N}";

    private Tmux()
    {
    }

    /// <summary>Whether tmux is on PATH.</summary>
    public static bool Available => ChildProcess.FindOnPath("tmux") is not null;

    /// <summary>Starts <paramref name="command"/> (a shell command line) in a <paramref name="width"/> x <paramref name="height"/> terminal.</summary>
    public static Tmux Start(string command, int width, int height)
    {
        var t = new Tmux();
        t.Run("-u", "new-session", "-d", "-s", "top", "-x", $"{width}", "-y", $"{height}", command);
        t.Run("set-option", "-g", "window-size", "manual");
        return t;
    }

    /// <summary>The visible screen, one string per row, trailing spaces removed; with <paramref name="escapes"/>, with the escape sequences of its colours.</summary>
    public string Capture(bool escapes = false) => escapes ? Run("capture-pane", "-p", "-e", "-t", "top") : Run("capture-pane", "-p", "-t", "top");

    /// <summary>A tmux format evaluated for the pane, such as <c>#{alternate_on}</c>.</summary>
    public string Display(string format) => Run("display-message", "-p", "-t", "top", format).Trim();

    /// <summary>Sends keys as tmux names them (<c>q</c>, <c>Enter</c>, <c>Down</c>).</summary>
    public void Keys(params string[] keys) => Run(["send-keys", "-t", "top", .. keys]);

    /// <summary>Resizes the terminal.</summary>
    public void Resize(int width, int height) => Run("resize-window", "-t", "top", "-x", $"{width}", "-y", $"{height}");

    /// <summary>Waits until the screen satisfies <paramref name="condition"/>; returns that screen.</summary>
    public async Task<string> WaitForAsync(Func<string, bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        var screen = "";
        while (DateTime.UtcNow < deadline)
        {
            screen = Capture();
            if (condition(screen))
            {
                return screen;
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"the terminal never showed {what}; last screen:\n{screen}");
    }

    /// <inheritdoc />
    public void Dispose()
    {
        try
        {
            Run("kill-server");
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
    }

    /// <summary>One tmux client command on this server (the pane's TERM is tmux's default-terminal, whatever the client's).</summary>
    private string Run(params string[] args)
    {
        var path = ChildProcess.FindOnPath("tmux") ?? throw new InvalidOperationException("tmux not found on PATH: install the Debian package 'tmux' (.ci/run does)");
        var (code, output) = ChildProcess.Run(path, ["-L", _socket, .. args]);
        if (code != 0)
        {
            throw new InvalidOperationException($"tmux {string.Join(' ', args)} failed ({code}): {output}");
        }

        return output;
    }
}
