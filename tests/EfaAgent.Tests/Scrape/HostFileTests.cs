using EfaAgent.Agent.Jobs;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Scrape;

public class HostFileTests
{
    [Fact]
    public void Reads_the_hosts_of_an_Open_MPI_host_file_with_comments_and_slots()
    {
        var result = HostFile.Parse("""
            # two p4d nodes of the job
            node-a slots=8 max_slots=8
              node-b   slots=8   # the second one

            10.0.1.17
            """);
        Assert.Null(result.Error);
        Assert.Equal(
            [new JobHost("node-a", null, 8), new JobHost("node-b", null, 8), new JobHost("10.0.1.17", null, null)],
            result.Hosts);
    }

    [Fact]
    public void Reads_MPICH_slot_counts_and_IPv6_addresses()
    {
        var result = HostFile.Parse("node-a:8\r\nfd00::17\n[fd00::18]:4\n");
        Assert.Null(result.Error);
        Assert.Equal(
            [new JobHost("node-a", null, 8), new JobHost("fd00::17", null, null), new JobHost("fd00::18", null, 4)],
            result.Hosts);
    }

    [Fact]
    public void A_host_named_twice_is_one_node_whose_slots_add_up()
    {
        var result = HostFile.Parse("node-a slots=4\nNODE-A slots=4\nnode-b\n");
        Assert.Equal([new JobHost("node-a", null, 8), new JobHost("node-b", null, null)], result.Hosts);
    }

    [Theory]
    [InlineData("node-a slots=x", "line 1: slots must be a positive whole number, got 'x'")]
    [InlineData("node-a\nnode-b slots=0", "line 2: slots must be a positive whole number, got '0'")]
    [InlineData("node-a eight", "line 1: expected key=value after the host, got 'eight'")]
    [InlineData("\n\nnode-a:", "line 3: the slot count after ':' must be a positive whole number, got ''")]
    [InlineData("no/de", "line 1: 'no/de' is not a host name or address")]
    public void A_bad_line_is_an_error_that_names_the_line(string text, string error)
    {
        var result = HostFile.Parse(text);
        Assert.Equal(error, result.Error);
        Assert.Empty(result.Hosts);
    }

    [Fact]
    public void Loading_a_missing_or_oversized_file_is_an_error_not_an_exception()
    {
        using var dir = new TempDir();
        Assert.Equal($"host file {dir.Path}/none: no such file", HostFile.Load(Path.Combine(dir.Path, "none")).Error);

        var big = Path.Combine(dir.Path, "big");
        File.WriteAllText(big, new string('#', HostFile.MaxBytes + 1));
        Assert.Equal($"host file {big}: larger than {HostFile.MaxBytes} bytes", HostFile.Load(big).Error);

        var good = Path.Combine(dir.Path, "hosts");
        File.WriteAllText(good, "a slots=8\nb slots=8\n");
        Assert.Equal(["a", "b"], HostFile.Load(good).Hosts.Select(h => h.Host));
    }

    [Theory]
    [InlineData("node-a", "node-a", null)]
    [InlineData("node-a:19401", "node-a", 19401)]
    [InlineData("10.0.0.1:30000", "10.0.0.1", 30000)]
    [InlineData("[fd00::1]:19400", "fd00::1", 19400)]
    [InlineData("[fd00::1]", "fd00::1", null)]
    [InlineData("fd00::1", "fd00::1", null)]
    public void Parses_command_line_targets(string text, string host, int? port)
    {
        Assert.True(HostFile.TryParseTarget(text, out var target, out var error), error);
        Assert.Equal(new JobHost(host, port, null), target);
    }

    [Theory]
    [InlineData("", "empty host")]
    [InlineData("node-a:0", "'0' is not a port (1-65535) in 'node-a:0'")]
    [InlineData("node-a:70000", "'70000' is not a port (1-65535) in 'node-a:70000'")]
    [InlineData("node-a:http", "'http' is not a port (1-65535) in 'node-a:http'")]
    [InlineData("[fd00::1", "'[fd00::1' is not [IPV6] or [IPV6]:PORT")]
    [InlineData("a b", "'a b' is not a host name or address")]
    public void Rejects_bad_targets_with_a_reason(string text, string error)
    {
        Assert.False(HostFile.TryParseTarget(text, out _, out var actual));
        Assert.Equal(error, actual);
    }

    [Fact]
    public void A_target_is_shown_and_put_into_URLs_with_brackets_for_IPv6()
    {
        Assert.Equal("[fd00::1]:19400", new JobHost("fd00::1", null, null).Display(19400));
        Assert.Equal("node-a:30000", new JobHost("node-a", 30000, null).Display(19400));
    }
}
