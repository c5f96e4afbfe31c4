namespace EfaAgent.Agent.Top;

/// <summary>
/// <c>efa-agent top</c>: the full-screen view on a terminal; one snapshot with <c>--once</c> or
/// <c>--json</c>; and on a pipe or file, one plain snapshot per interval without escape codes.
/// </summary>
public static class TopCommand
{
    /// <summary>Width of the plain text when stdout is not a terminal and <c>COLUMNS</c> is not set.</summary>
    public const int PlainWidth = 160;

    /// <summary>Runs <c>top</c> with the arguments after the word; returns the exit code.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        var (options, error, help) = TopOptions.Parse(args);
        if (help)
        {
            await Console.Out.WriteAsync(TopOptions.Usage()).ConfigureAwait(false);
            return 0;
        }

        if (options is null)
        {
            await Console.Error.WriteLineAsync($"efa-agent top: {error}").ConfigureAwait(false);
            return 2;
        }

        using var stop = new SignalStop();
        var (session, openError) = await TopSession.OpenAsync(options, stop.Token).ConfigureAwait(false);
        if (session is null)
        {
            await Console.Error.WriteLineAsync($"efa-agent top: {openError}").ConfigureAwait(false);
            return 2;
        }

        await using (session.ConfigureAwait(false))
        {
            return await RunAsync(session, options, stop.Token).ConfigureAwait(false);
        }
    }

    /// <summary>Shows <paramref name="session"/> the way <paramref name="options"/> and stdout ask for, until done or <paramref name="stop"/>.</summary>
    public static async Task<int> RunAsync(TopSession session, TopOptions options, CancellationToken stop)
    {
        try
        {
            if (options.Once)
            {
                // Rates need two scrapes.
                await session.RefreshAsync(stop).ConfigureAwait(false);
                await Task.Delay(options.Interval, stop).ConfigureAwait(false);
                await session.RefreshAsync(stop).ConfigureAwait(false);
                await Console.Out.WriteAsync(options.Json ? TopJson.Write(session.Job) : Snapshot(session, Width())).ConfigureAwait(false);
                return 0;
            }

            if (!OperatingSystem.IsWindows() && !Console.IsOutputRedirected && TopTerminal.Supported())
            {
                return await TopTerminal.RunAsync(session, options.Interval, stop).ConfigureAwait(false);
            }

            while (true)
            {
                await session.RefreshAsync(stop).ConfigureAwait(false);
                await Console.Out.WriteAsync(Snapshot(session, Width()) + "\n").ConfigureAwait(false);
                await Console.Out.FlushAsync(stop).ConfigureAwait(false);
                await Task.Delay(options.Interval, stop).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return 0;
        }
    }

    /// <summary>The plain-text snapshot: the job table (several nodes), then each node's full view.</summary>
    public static string Snapshot(TopSession session, int width) => Snapshot(session.Job, width);

    /// <summary>The plain-text snapshot of <paramref name="job"/> at <paramref name="width"/>.</summary>
    public static string Snapshot(JobView job, int width)
    {
        var lines = new List<Line>();
        if (job.Nodes.Count > 1)
        {
            lines.AddRange(JobRenderer.Render(job, width, -1));
        }

        foreach (var node in job.Nodes)
        {
            if (lines.Count > 0)
            {
                lines.Add(Line.Empty);
            }

            lines.AddRange(NodeRenderer.Render(node, width));
        }

        return Screen.PlainText(lines, width);
    }

    private static int Width() =>
        int.TryParse(Environment.GetEnvironmentVariable("COLUMNS"), out var c) && c > 20 ? c
        : !Console.IsOutputRedirected && Console.WindowWidth > 20 ? Console.WindowWidth
        : PlainWidth;
}
