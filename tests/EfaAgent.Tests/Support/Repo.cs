namespace EfaAgent.Tests.Support;

/// <summary>Paths inside the repository, found from the test assembly's location.</summary>
public static class Repo
{
    private static readonly Lazy<string> RootPath = new(() =>
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !System.IO.File.Exists(Path.Combine(dir.FullName, "EfaAgent.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("EfaAgent.sln not found above " + AppContext.BaseDirectory);
    });

    /// <summary>The repository root (the folder holding EfaAgent.sln).</summary>
    public static string Root => RootPath.Value;

    /// <summary>A path under <c>tests/fixtures/</c>.</summary>
    public static string Fixture(params string[] parts) => Path.Combine([Root, "tests", "fixtures", .. parts]);

    /// <summary>A path under the repository root.</summary>
    public static string PathTo(params string[] parts) => Path.Combine([Root, .. parts]);
}
