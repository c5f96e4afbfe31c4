using EfaAgent.Collectors.Model;
using System.Net;
using EfaAgent.Agent.Doctor;
using EfaAgent.Agent.Doctor.Procfs;

namespace EfaAgent.Tests.Doctor;

/// <summary>The doctor's procfs parsers on strings in the kernel's formats.</summary>
public sealed class DoctorParserTests
{
    [Fact]
    public void Proc_net_tcp_gives_the_listening_sockets_with_address_port_uid_and_inode()
    {
        const string text = """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 0100007F:7530 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 31337 1 0000000000000000 100 0 0 10 0
               1: 0A1F04AC:0016 0B1F04AC:C350 01 00000000:00000000 02:000A7B2C 00000000     0        0 40000 4 0000000000000000 20 4 1 10 -1
               2: garbage
            """;
        var listeners = ProcNetTcp.ParseListeners(text, out var malformed);
        var only = Assert.Single(listeners);
        Assert.Equal(IPAddress.Loopback, only.Address);
        Assert.Equal(30000, only.Port);
        Assert.Equal(1000u, only.Uid);
        Assert.Equal(31337ul, only.Inode);
        Assert.Equal(1, malformed);
    }

    [Fact]
    public void Proc_net_tcp6_addresses_are_four_host_order_words()
    {
        Assert.True(ProcNetTcp.TryEndpoint("00000000000000000000000001000000:1F90", out var loopback, out var port));
        Assert.Equal(IPAddress.IPv6Loopback, loopback);
        Assert.Equal(8080, port);
        Assert.True(ProcNetTcp.TryEndpoint("000080FE00000000FF1E0B10B0E202FE:0016", out var linkLocal, out _));
        Assert.Equal(IPAddress.Parse("fe80::100b:1eff:fe02:e2b0"), linkLocal);
        Assert.False(ProcNetTcp.TryEndpoint("0100007F", out _, out _));
    }

    [Fact]
    public void The_start_time_counts_fields_after_the_last_parenthesis_of_the_command_name()
    {
        const string stat = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 150000 0 0 0 52000 9000 0 0 20 0 64 0 360000 123456789 4096";
        var started = ProcessInfo.StartTime(stat, "cpu 1 2 3\nbtime 1796277600\n");
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1796277600 + 3600), started);
        Assert.Null(ProcessInfo.StartTime("4242 (short) S 1", "btime 1"));
        Assert.Null(ProcessInfo.StartTime(stat, "cpu 1 2 3\n"));
    }

    [Fact]
    public void Status_gives_the_real_uid_and_passwd_its_name()
    {
        Assert.Equal(1000u, ProcessInfo.StatusUid("Name:\tpython3\nUid:\t1000\t0\t0\t0\nGid:\t1000\n"));
        Assert.Null(ProcessInfo.StatusUid("Name:\tpython3\n"));
        Assert.Equal("ubuntu", ProcessInfo.UserName("root:x:0:0::/root:/bin/bash\nubuntu:x:1000:1000::/home/ubuntu:/bin/bash\n", 1000));
        Assert.Null(ProcessInfo.UserName("root:x:0:0::/root:/bin/bash\n", 1000));
    }

    [Fact]
    public void Limits_give_soft_and_hard_with_unlimited_as_null()
    {
        const string text = """
            Limit                     Soft Limit           Hard Limit           Units
            Max locked memory         65536                unlimited            bytes
            Max address space         unlimited            unlimited            bytes
            """;
        Assert.Equal(new ResourceLimit(65536, null), ProcLimits.Find(text, ProcLimits.LockedMemory));
        Assert.Null(ProcLimits.Find("Max locked memory  lots  lots  bytes", ProcLimits.LockedMemory));
        Assert.Null(ProcLimits.Find("Limit  Soft Limit", ProcLimits.LockedMemory));
    }

    [Fact]
    public void Names_sort_with_their_numbers_as_numbers()
    {
        string[] names = ["rdmap160s27", "rdmap16s27", "rdmap144s27", "rdmap32s27", "ens5", "ens05a"];
        Assert.Equal(["ens5", "ens05a", "rdmap16s27", "rdmap32s27", "rdmap144s27", "rdmap160s27"], names.Order(NaturalOrder.Instance));
    }
}
