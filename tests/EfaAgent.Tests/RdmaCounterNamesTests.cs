using EfaAgent.Collectors.Efa;

namespace EfaAgent.Tests;

public class RdmaCounterNamesTests
{
    [Theory]
    [InlineData(true, true, "tx_bytes", "efa_port_tx_bytes_total")]
    [InlineData(true, false, "submitted_cmds", "efa_device_submitted_cmds_total")]
    [InlineData(false, true, "out_of_buffer", "rdma_port_out_of_buffer_total")]
    [InlineData(false, false, "cmds_err", "rdma_device_cmds_err_total")]
    public void A_counter_file_becomes_prefix_level_name_total(bool isEfa, bool portLevel, string counter, string metric)
    {
        Assert.Equal(metric, RdmaCounterNames.MetricName(isEfa, portLevel, counter));
    }

    [Fact]
    public void A_counter_no_table_knows_is_exported_under_its_own_name()
    {
        Assert.False(RdmaCounterNames.IsKnown("future_counter_xyz"));
        Assert.Equal("efa_port_future_counter_xyz_total", RdmaCounterNames.MetricName(true, true, "future_counter_xyz"));
        Assert.Contains("ports/<port>/hw_counters/future_counter_xyz", RdmaCounterNames.Help(true, true, "future_counter_xyz"), StringComparison.Ordinal);
    }

    [Fact]
    public void A_name_that_already_ends_in_total_gets_no_second_total()
    {
        Assert.Equal("efa_port_pkts_total", RdmaCounterNames.MetricName(true, true, "pkts_total"));
        Assert.Equal("efa_port_totally_total", RdmaCounterNames.MetricName(true, true, "totally"));
    }

    [Theory]
    [InlineData("VL15_dropped", "vl15_dropped")]
    [InlineData("rx-bytes", "rx_bytes")]
    [InlineData("a.b c/d", "a_b_c_d")]
    [InlineData("4k_bytes", "_4k_bytes")]
    [InlineData("", "_")]
    [InlineData("tx_bytes", "tx_bytes")]
    public void Sanitising_gives_lower_case_letters_digits_and_underscores_not_starting_with_a_digit(string counter, string sanitized)
    {
        Assert.Equal(sanitized, RdmaCounterNames.Sanitize(counter));
    }

    [Fact]
    public void Every_counter_of_every_driver_generation_has_help_text()
    {
        string[] known =
        [
            "tx_bytes", "tx_pkts", "rx_bytes", "rx_pkts", "rx_drops",
            "send_bytes", "send_wrs", "recv_bytes", "recv_wrs", "rdma_read_wrs", "rdma_read_bytes", "rdma_read_wr_err", "rdma_read_resp_bytes",
            "rdma_write_wrs", "rdma_write_bytes", "rdma_write_wr_err", "rdma_write_recv_bytes",
            "retrans_bytes", "retrans_pkts", "retrans_timeout_events", "unresponsive_remote_events", "impaired_remote_conn_events",
            "submitted_cmds", "completed_cmds", "cmds_err", "no_completion_cmds", "keep_alive_rcvd", "alloc_pd_err", "create_qp_err",
            "create_cq_err", "reg_mr_err", "alloc_ucontext_err", "create_ah_err", "mmap_err", "alloc_mr_err", "get_dma_mr_err",
        ];
        Assert.All(known, c => Assert.True(RdmaCounterNames.IsKnown(c), c));
    }
}
