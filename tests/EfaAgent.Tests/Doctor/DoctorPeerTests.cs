using System.Globalization;
using System.Net;
using System.Net.Sockets;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Doctor;

/// <summary>
/// The peer check against real sockets: a listening peer connects, a closed port is refused, and a
/// destination that drops packets (a drop rule in a network namespace this test creates) times out;
/// a peer's agent is scraped and compared with this node.
/// </summary>
public sealed class DoctorPeerTests(FakeNvmlBuild build) : IClassFixture<FakeNvmlBuild>
{
    private static readonly string[] Roots =
    [
        $"--path.sysfs={Repo.Fixture("p4d-postsplit", "sys")}",
        $"--path.procfs={Repo.Fixture("p4d-postsplit", "proc")}",
        $"--path.rootfs={Repo.Fixture("p4d-postsplit")}",
        "--json",
        "--timeout=1s",
    ];

    [Fact]
    public async Task A_listening_peer_connects_and_a_closed_port_is_refused()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var open = ((IPEndPoint)listener.LocalEndpoint).Port;
        var closed = AgentProcess.FreePort();

        var checks = (await DoctorRun.RunAsync([.. Roots, "--nvml.library=/nonexistent/libnvidia-ml.so.1", $"--peer=127.0.0.1:{open}", $"--peer=localhost:{closed}", $"--web.listen-address=:{closed}"])).Checks();

        Assert.Equal("ok", checks[$"peer 127.0.0.1:{open}"].Status);
        Assert.StartsWith("connected", checks[$"peer 127.0.0.1:{open}"].Detail, StringComparison.Ordinal);
        Assert.Equal("warn", checks[$"peer localhost:{closed}"].Status);
        Assert.StartsWith("refused: localhost is reachable but nothing listens", checks[$"peer localhost:{closed}"].Detail, StringComparison.Ordinal);
        Assert.Equal("warn", checks[$"peer localhost:{closed} agent"].Status);
    }

    [Fact]
    public async Task An_IPv6_peer_connects()
    {
        using var listener = new TcpListener(IPAddress.IPv6Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;

        var checks = (await DoctorRun.RunAsync([.. Roots, "--nvml.library=/nonexistent/libnvidia-ml.so.1", $"--peer=[::1]:{port}", $"--web.listen-address=:{AgentProcess.FreePort()}"])).Checks();

        Assert.Equal("ok", checks[$"peer [::1]:{port}"].Status);
    }

    [Fact]
    public async Task A_peer_from_a_host_file_without_a_port_is_tried_on_the_rendezvous_port()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var dir = new TempDir();
        File.WriteAllText(dir.Combine("hostfile"), "# the job's nodes\n127.0.0.1 slots=8\n");

        var checks = (await DoctorRun.RunAsync([.. Roots, "--nvml.library=/nonexistent/libnvidia-ml.so.1", $"--port={port}", $"--hostfile={dir.Combine("hostfile")}", $"--web.listen-address=:{AgentProcess.FreePort()}"])).Checks();

        Assert.Equal("ok", checks[$"peer 127.0.0.1:{port}"].Status);
    }

    [Fact]
    public async Task A_peer_agent_on_another_instance_type_is_a_mixed_fleet()
    {
        using var nvml = DoctorRun.Gpus(build, "p4d-postsplit");
        using var otherGpus = new FakeNvml(build, "driver 550.54.15\n");
        using var peerRoot = new TempDir();
        var peerSys = peerRoot.CopyFrom(Repo.Fixture("p5-617", "sys"), "sys");
        Directory.CreateDirectory(Path.Combine(peerSys, "module", "efa"));
        File.WriteAllText(Path.Combine(peerSys, "module", "efa", "version"), "2.10.0g\n");
        await using var peerAgent = AgentProcess.Start([$"--path.sysfs={peerSys}", $"--path.procfs={Repo.Fixture("p5-617", "proc")}", $"--nvml.library={otherGpus.LibraryPath}"]);
        await peerAgent.WaitHealthyAsync();

        var checks = (await DoctorRun.RunAsync([.. Roots, $"--nvml.library={nvml.LibraryPath}", "--peer=127.0.0.1", $"--web.listen-address=127.0.0.1:{peerAgent.Port}"])).Checks();

        var agent = checks[$"peer 127.0.0.1:{peerAgent.Port} agent"];
        Assert.Equal("fail", agent.Status);
        Assert.Contains("instance type p5.48xlarge there, p4d.24xlarge here", agent.Detail, StringComparison.Ordinal);
        Assert.Contains("EFA devices 32 there, 4 here", agent.Detail, StringComparison.Ordinal);
        Assert.Contains("NVIDIA driver 550.54.15 there, 535.183.01 here", agent.Detail, StringComparison.Ordinal);
        Assert.Contains("efa driver 2.10.0g there, 2.13.0g here", agent.Detail, StringComparison.Ordinal);
        Assert.Contains("mixed fleet", agent.Remedy, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task A_peer_behind_a_drop_rule_times_out_and_points_at_the_security_group()
    {
        using var ns = DroppingNamespace.TryCreate(out var why);
        Skip.If(ns is null, $"cannot create a network namespace with a drop rule here: {why}");

        var checks = (await DoctorRun.RunAsync([.. Roots, "--nvml.library=/nonexistent/libnvidia-ml.so.1", $"--peer={ns!.Address}:{DroppingNamespace.DroppedPort}", $"--peer={ns.Address}:{DroppingNamespace.DroppedPort + 1}", $"--web.listen-address=:{DroppingNamespace.DroppedPort}"])).Checks();

        var dropped = checks[$"peer {ns.Address}:{DroppingNamespace.DroppedPort}"];
        Assert.Equal("fail", dropped.Status);
        Assert.StartsWith("timed out after 1s", dropped.Detail, StringComparison.Ordinal);
        Assert.Contains("security group", dropped.Remedy, StringComparison.Ordinal);
        Assert.Equal("fail", checks[$"peer {ns.Address}:{DroppingNamespace.DroppedPort} agent"].Status);

        // The same host, a port without the rule: the kernel there answers with a reset.
        Assert.Equal("warn", checks[$"peer {ns.Address}:{DroppingNamespace.DroppedPort + 1}"].Status);
        Assert.StartsWith("refused", checks[$"peer {ns.Address}:{DroppingNamespace.DroppedPort + 1}"].Detail, StringComparison.Ordinal);
    }

    /// <summary>
    /// A network namespace joined to this one by a veth pair, whose address drops TCP to
    /// <see cref="DroppedPort"/> (an iptables rule inside it, as a security group without the rule would).
    /// </summary>
    private sealed class DroppingNamespace : IDisposable
    {
        public const int DroppedPort = 29500;

        private readonly NetworkNamespace _ns;
        private readonly string _hostLink;

        private DroppingNamespace(NetworkNamespace ns, string hostLink, string address)
        {
            _ns = ns;
            _hostLink = hostLink;
            Address = address;
        }

        public string Address { get; }

        public static DroppingNamespace? TryCreate(out string? why)
        {
            if (NetworkNamespace.TryCreate(out var reason) is not { } ns)
            {
                why = reason;
                return null;
            }

            var id = Environment.ProcessId % 10000;
            var subnet = $"10.213.{Environment.ProcessId % 250}";
            var (host, peer) = ($"edh{id}", $"edp{id}");
            var dropping = new DroppingNamespace(ns, host, $"{subnet}.2");
            try
            {
                ns.HostIp("link", "add", host, "type", "veth", "peer", "name", peer, "netns", ns.Name);
                ns.HostIp("addr", "add", $"{subnet}.1/30", "dev", host);
                ns.HostIp("link", "set", host, "up");
                ns.HostIp("-n", ns.Name, "addr", "add", $"{subnet}.2/30", "dev", peer);
                ns.Link("set", peer, "up");
                var iptables = ChildProcess.FindOnPath("iptables") ?? "/usr/sbin/iptables";
                var (code, output) = ns.Exec(iptables, "-A", "INPUT", "-p", "tcp", "--dport", DroppedPort.ToString(CultureInfo.InvariantCulture), "-j", "DROP");
                if (code != 0)
                {
                    throw new InvalidOperationException($"iptables -A INPUT ... -j DROP in {ns.Name} failed ({code}): {output.Trim()}");
                }
            }
            catch (InvalidOperationException e)
            {
                dropping.Dispose();
                why = e.Message;
                return null;
            }

            // A fresh veth pair may take a moment (link up, ARP) before the first SYN crosses it; on a
            // loaded machine that moment can exceed the doctor's timeout. Wait until the peer's kernel
            // answers a port without the rule with a reset, so the test measures the rule, not the link.
            var deadline = DateTime.UtcNow.AddSeconds(15);
            while (!AnswersWithReset(dropping.Address, DroppedPort + 1))
            {
                if (DateTime.UtcNow > deadline)
                {
                    dropping.Dispose();
                    why = $"the namespace's address {dropping.Address} did not answer within 15 s";
                    return null;
                }

                Thread.Sleep(100);
            }

            why = null;
            return dropping;
        }

        private static bool AnswersWithReset(string address, int port)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                return socket.ConnectAsync(IPAddress.Parse(address), port).Wait(TimeSpan.FromSeconds(2)); // connected: reachable too
            }
            catch (AggregateException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused })
            {
                return true;
            }
            catch (AggregateException e) when (e.InnerException is SocketException)
            {
                return false;
            }
        }

        public void Dispose()
        {
            _ns.Dispose(); // deletes the veth pair with it once its end is inside
            ChildProcess.Run(_ns.Ip, ["link", "del", _hostLink]); // in case setting up stopped before that (fails harmlessly otherwise)
        }
    }
}
