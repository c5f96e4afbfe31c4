using EfaAgent.Agent.Scrape;
using EfaAgent.Agent.Top;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Top;

/// <summary>
/// Known scrapes render to the expected text (tests/golden/top/, UPDATE_GOLDEN=1 rewrites them) at a
/// narrow, a common and a wide terminal; narrow terminals drop columns, never wrap.
/// </summary>
public sealed class TopRenderTests
{
    public static readonly TheoryData<int> Widths = [60, 100, 160];

    [Theory]
    [MemberData(nameof(Widths))]
    public void Node_view_renders_the_golden_text_at_each_width(int width)
    {
        var b = TopInputs.Base();
        var node = TopInputs.Node("node-a", b, TopInputs.Training(b));
        var text = Screen.PlainText(NodeRenderer.Render(node, width), width);

        AssertFits(text, width);
        Golden.AssertMatches($"top/node-{width}.txt", text);
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Job_view_renders_the_golden_text_at_each_width(int width)
    {
        var text = Screen.PlainText(JobRenderer.Render(TopInputs.Job(), width, selected: 1), width);

        AssertFits(text, width);
        Golden.AssertMatches($"top/job-{width}.txt", text);
    }

    [Fact]
    public void Job_snapshot_renders_the_golden_json()
    {
        Golden.AssertMatches("top/job.json", TopJson.Write(TopInputs.Job()));
    }

    [Fact]
    public void Node_view_shows_the_ENA_allowance_drops_of_the_last_interval_on_each_ENA_line()
    {
        var b = TopInputs.Base();
        var node = TopInputs.Node("node-b", b, TopInputs.SocketFallback(b));
        var lines = NodeRenderer.Render(node, 100);
        var text = Screen.PlainText(lines, 100);

        Golden.AssertMatches("top/node-sockets-100.txt", text);
        foreach (var dev in TopInputs.EnaNetdevs)
        {
            var line = Assert.Single(lines, l => l.Text.StartsWith("rdmap", StringComparison.Ordinal) && l.Text.Contains($" {dev} ", StringComparison.Ordinal));
            Assert.Contains("bw_out +1500", line.Text, StringComparison.Ordinal);
            Assert.Equal(Tone.Bad, line.Spans[^1].Tone);
        }

        // Wide, the moving allowances come first with their increase, before the EFA port's old errors.
        var wide = Assert.Single(NodeRenderer.Render(node, 160), l => l.Text.StartsWith("rdmap16s27 ", StringComparison.Ordinal));
        Assert.StartsWith("bw_out +1500 pps +400 ", wide.Spans[^1].Text, StringComparison.Ordinal);

        Assert.Equal(2 * TopInputs.EnaNetdevs.Length, node.Totals.ErrorsMoving);
    }

    [Fact]
    public void ENA_allowance_drops_read_on_the_slow_lane_keep_their_last_step_until_it_leaves_the_minute()
    {
        var b = TopInputs.Base();
        var stepped = TopInputs.Bump(b, "ena_bw_out_allowance_exceeded_total{device=\"ens65\"", 900);
        var tracker = new NodeTracker("n", "here");
        tracker.Update(ExpositionParser.Parse(b), 100, TopInputs.LastSample);
        tracker.Update(ExpositionParser.Parse(stepped), 101, TopInputs.LastSample);

        // Scrapes in between repeat the value the agent read last: the step stays the last interval's increase.
        var between = tracker.Update(ExpositionParser.Parse(stepped), 105, TopInputs.LastSample);
        Assert.Equal(900, Assert.Single(Assert.Single(between.Interfaces, i => i.Device == "ens65").AllowanceDrops).Recent);
        Assert.Equal(1, between.Totals.ErrorsMoving);

        var later = tracker.Update(ExpositionParser.Parse(stepped), 170, TopInputs.LastSample);
        Assert.Equal(new ErrorCount("bw_out", 900, 0), Assert.Single(Assert.Single(later.Interfaces, i => i.Device == "ens65").AllowanceDrops));
    }

    [Fact]
    public void Node_view_shows_rates_from_the_counter_increments_in_human_units()
    {
        var b = TopInputs.Base();
        var node = TopInputs.Node("node-a", b, TopInputs.Training(b));
        var port = Assert.Single(node.Efa, p => p.Device == "rdmap16s27");

        Assert.Equal(5e9, port.Transmit);
        Assert.Equal("40.0 Gbit/s", Units.Rate(port.Transmit));
        Assert.Equal("ens32", port.Netdev);
        Assert.Equal(125_000, Assert.Single(node.Interfaces, i => i.Device == "ens32").Transmit);
        var drops = Assert.Single(Assert.Single(node.Efa, p => p.Device == "rdmap32s27").Errors, e => e.Counter == "rx_drops");
        Assert.Equal(5, drops.Recent);
        Assert.DoesNotContain(node.Interfaces, i => i.Device == "lo");
    }

    [Fact]
    public void Narrow_terminal_drops_columns_by_priority_and_keeps_the_device_names()
    {
        var b = TopInputs.Base();
        var text = Screen.PlainText(NodeRenderer.Render(TopInputs.Node("node-a", b, TopInputs.Training(b)), 60), 60);

        Assert.Contains("rdmap144s27", text, StringComparison.Ordinal);
        Assert.DoesNotContain("peak tx", text, StringComparison.Ordinal);
        Assert.Contains("40.0 Gbit/s", text, StringComparison.Ordinal);
    }

    private static void AssertFits(string text, int width)
    {
        foreach (var line in text.Split('\n'))
        {
            Assert.True(line.Length <= width, $"line longer than {width}: {line}");
        }
    }
}
