namespace EfaAgent.Tests.Support;

/// <summary>
/// Golden files under <c>tests/golden/</c>. A test compares what it produced with the file; run the
/// tests with <c>UPDATE_GOLDEN=1</c> to rewrite the files from what the code produces now (then read
/// the diff before committing it).
/// </summary>
public static class Golden
{
    /// <summary>True when the golden files are to be rewritten.</summary>
    public static bool Updating => Environment.GetEnvironmentVariable("UPDATE_GOLDEN") == "1";

    /// <summary>Compares <paramref name="actual"/> with <c>tests/golden/&lt;name&gt;</c>, or rewrites it.</summary>
    public static void AssertMatches(string name, string actual)
    {
        var path = Path.Combine(Repo.Root, "tests", "golden", name);
        if (Updating)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, actual);
            return;
        }

        Assert.True(File.Exists(path), $"golden file {path} is missing; run the tests with UPDATE_GOLDEN=1 to create it");
        var expected = File.ReadAllText(path);
        if (expected != actual)
        {
            var e = expected.Split('\n');
            var a = actual.Split('\n');
            var missing = e.Except(a).Take(20);
            var extra = a.Except(e).Take(20);
            Assert.Fail($"output differs from {path} (UPDATE_GOLDEN=1 rewrites it)\n--- expected but missing:\n{string.Join('\n', missing)}\n+++ produced but not expected:\n{string.Join('\n', extra)}");
        }
    }
}
