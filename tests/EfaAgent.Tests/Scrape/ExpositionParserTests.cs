using EfaAgent.Agent.Scrape;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Scrape;

public class ExpositionParserTests
{
    [Fact]
    public void Reads_samples_labels_help_and_types()
    {
        var set = ExpositionParser.Parse("""
            # HELP efa_port_tx_bytes_total Bytes sent (ports/<port>/hw_counters/tx_bytes)\nsecond line \\ done
            # TYPE efa_port_tx_bytes_total counter
            efa_port_tx_bytes_total{device="rdmap16s27",port="1"} 1.2e+10
            efa_port_tx_bytes_total{device="rdmap32s27",port="1",} 7 1700000000000
            # a plain comment
            efa_devices 4
            """);
        Assert.Equal("counter", set.TypeOf("efa_port_tx_bytes_total"));
        Assert.Equal("Bytes sent (ports/<port>/hw_counters/tx_bytes)\nsecond line \\ done", set.HelpOf("efa_port_tx_bytes_total"));
        Assert.Equal(3, set.Samples.Count);
        Assert.Equal(1.2e10, set.Value("efa_port_tx_bytes_total", ("device", "rdmap16s27")));
        Assert.Equal(7, set.Value("efa_port_tx_bytes_total", ("device", "rdmap32s27"), ("port", "1")));
        Assert.Null(set.Value("efa_port_tx_bytes_total", ("device", "nope")));
        Assert.Equal(4, set.Value("efa_devices"));
        Assert.Equal("", set.Series("efa_devices")[0].Label("device"));
    }

    [Fact]
    public void Unescapes_label_values_and_reads_special_floats()
    {
        var set = ExpositionParser.Parse("""
            x{a="q\"uote",b="back\\slash",c="new\nline",d="{},= "} NaN
            y +Inf
            z -Inf
            """);
        var x = set.Series("x")[0];
        Assert.Equal(("q\"uote", "back\\slash", "new\nline", "{},= "), (x.Label("a"), x.Label("b"), x.Label("c"), x.Label("d")));
        Assert.True(double.IsNaN(x.Value));
        Assert.Equal(double.PositiveInfinity, set.Value("y"));
        Assert.Equal(double.NegativeInfinity, set.Value("z"));
    }

    [Fact]
    public void Reads_OpenMetrics_with_exemplars_and_stops_at_EOF()
    {
        var set = ExpositionParser.Parse("""
            # TYPE a counter
            # UNIT a bytes
            a_total 3 # {trace_id="abc"} 1 1.5
            # EOF
            this is not read
            """);
        Assert.Equal(3, set.Value("a_total"));
        Assert.Single(set.Samples);
    }

    [Theory]
    [InlineData("x{a=\"1\"", "line 1: expected ',' or '}' after a label")]
    [InlineData("ok 1\nx{a=1} 2", "line 2: bad label 'a'")]
    [InlineData("x{a=\"1} 2", "line 1: unterminated value of label a")]
    [InlineData("x{a=\"\\t\"} 2", "line 1: bad escape '\\t' in label a")]
    [InlineData("x{a=\"1\",a=\"2\"} 2", "line 1: label a twice")]
    [InlineData("x twelve", "line 1: bad value 'twelve'")]
    [InlineData("x 1 2 3", "line 1: expected a value and an optional timestamp")]
    [InlineData("9x 1", "line 1: bad metric name '9x'")]
    [InlineData("# TYPE x countr", "line 1: unknown type 'countr'")]
    [InlineData("<html>", "line 1: bad metric name '<html>'")]
    public void Names_the_line_and_the_fault_of_a_bad_exposition(string text, string error)
    {
        Assert.False(ExpositionParser.TryParse(text, out var set, out var actual));
        Assert.Null(set);
        Assert.StartsWith(error + ": ", actual);
        Assert.Throws<FormatException>(() => ExpositionParser.Parse(text));
    }

    [Theory]
    [InlineData("p5-617")]
    [InlineData("malformed")]
    public async Task Reads_every_sample_a_running_agent_serves(string fixture)
    {
        await using var agent = AgentProcess.Start(["--path.sysfs=" + Repo.Fixture(fixture, "sys"), "--path.procfs=" + Repo.Fixture(fixture, "proc"), "--no-collector.gpu"]);
        await agent.WaitHealthyAsync();
        var text = await agent.ScrapeAsync();
        var set = ExpositionParser.Parse(text);
        Assert.Equal(text.Split('\n').Count(l => l.Length > 0 && l[0] != '#'), set.Samples.Count);
        Assert.All(set.Samples, s => Assert.NotNull(set.TypeOf(s.Name) ?? set.TypeOf(s.Name[..s.Name.LastIndexOf('_')])));
        Assert.Equal(1, set.Value("efa_agent_collector_success", ("collector", "efa")));
    }
}
