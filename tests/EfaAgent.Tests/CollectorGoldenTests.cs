using System.Diagnostics;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests;

/// <summary>
/// Runs each collector once over each fixture tree and compares everything it exports with
/// <c>tests/golden/collectors/&lt;fixture&gt;.txt</c> (EFA) and <c>&lt;fixture&gt;.netdev.txt</c> (netdev):
/// one line per series, <c>name{labels} value</c>, sorted; absent (NaN) series are left out.
/// <para>
/// After a deliberate change of what is exported, rewrite the expected files with
/// <c>UPDATE_GOLDEN=1 dotnet test</c>, then read the diff of <c>tests/golden/</c> line by line
/// before committing it: the golden files are the specification, not a recording.
/// </para>
/// </summary>
public class CollectorGoldenTests
{
    public static TheoryData<string> Fixtures => new("p4d-postsplit", "p5-617", "presplit-4x", "mlx5-beside-efa", "malformed");

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Efa_collector_exports_exactly_the_golden_series(string fixture)
    {
        using var collector = TestCollectors.Efa(Repo.Fixture(fixture, "sys"));
        collector.Discover();
        collector.Sample(Stopwatch.GetTimestamp());

        Golden.AssertMatches($"collectors/{fixture}.txt", string.Join('\n', FrameText.Lines(collector.Frame)) + "\n");
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Netdev_collector_exports_exactly_the_golden_series(string fixture)
    {
        using var collector = TestCollectors.NetDev(Repo.Fixture(fixture, "proc"));
        collector.Discover();
        collector.Sample(Stopwatch.GetTimestamp());

        Golden.AssertMatches($"collectors/{fixture}.netdev.txt", string.Join('\n', FrameText.Lines(collector.Frame)) + "\n");
    }
}
