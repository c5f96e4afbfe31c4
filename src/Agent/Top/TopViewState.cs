namespace EfaAgent.Agent.Top;

/// <summary>What the full-screen view shows and how keys change it; kept apart from the terminal so it reads plainly.</summary>
public sealed class TopViewState
{
    /// <summary>The selected node of the job view.</summary>
    public int Selected { get; private set; }

    /// <summary>The node shown in full, or null for the job view.</summary>
    public int? Zoomed { get; private set; }

    /// <summary>Lines scrolled off the top of a node view.</summary>
    public int Scroll { get; private set; }

    /// <summary>Whether the help is shown.</summary>
    public bool Help { get; private set; }

    /// <summary>Whether the user asked to quit.</summary>
    public bool Quit { get; private set; }

    /// <summary>Applies a key; <paramref name="nodes"/> is how many nodes the job has.</summary>
    public void Key(ConsoleKeyInfo key, int nodes)
    {
        var job = nodes > 1;
        if (Help && key.KeyChar != 'q')
        {
            Help = false;
            return;
        }

        switch (key.Key, key.KeyChar)
        {
            case (_, 'q') or (_, 'Q'):
                Quit = true;
                break;
            case (_, '?') or (_, 'h'):
                Help = true;
                break;
            case (ConsoleKey.UpArrow, _) or (_, 'k'):
                if (job && Zoomed is null)
                {
                    Selected = Math.Max(0, Selected - 1);
                }
                else
                {
                    Scroll = Math.Max(0, Scroll - 1);
                }

                break;
            case (ConsoleKey.DownArrow, _) or (_, 'j'):
                if (job && Zoomed is null)
                {
                    Selected = Math.Min(nodes - 1, Selected + 1);
                }
                else
                {
                    Scroll++;
                }

                break;
            case (ConsoleKey.Enter, _):
                if (job)
                {
                    Zoomed = Selected;
                    Scroll = 0;
                }

                break;
            case (ConsoleKey.Escape, _) or (ConsoleKey.Backspace, _) or (ConsoleKey.LeftArrow, _):
                Zoomed = null;
                Scroll = 0;
                break;
        }
    }

    /// <summary>The lines of the screen (without the footer) for <paramref name="job"/> at <paramref name="width"/>.</summary>
    public List<Line> Lines(JobView job, int width)
    {
        if (Help)
        {
            return [.. TopOptions.Usage().Split('\n').Select(l => Line.Of(l))];
        }

        if (job.Nodes.Count > 1 && Zoomed is null)
        {
            return JobRenderer.Render(job, width, Math.Min(Selected, job.Nodes.Count - 1));
        }

        var node = job.Nodes[Math.Min(Zoomed ?? 0, job.Nodes.Count - 1)];
        return NodeRenderer.Render(node, width);
    }

    /// <summary>The footer: what the keys do here.</summary>
    public Line Footer(JobView job, TimeSpan interval)
    {
        var keys = job.Nodes.Count > 1 && Zoomed is null
            ? "q quit  ↑↓/jk select  Enter zoom  ? help"
            : job.Nodes.Count > 1 ? "q quit  Esc back to the job  ↑↓/jk scroll  ? help" : "q quit  ↑↓/jk scroll  ? help";
        return new Line([new Span($"efa-agent top · every {Options.Durations.Format(interval)} · ", Tone.Dim), new Span(keys, Tone.Dim)]);
    }

    /// <summary>Keeps the scroll offset within the content.</summary>
    public void ClampScroll(int lines, int height) => Scroll = Math.Clamp(Scroll, 0, Math.Max(0, lines - height));
}
