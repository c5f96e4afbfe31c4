namespace EfaAgent.Agent.Demo;

/// <summary>Placeholder until the simulated node lands.</summary>
public static class DemoCommand
{
    /// <summary>Runs the demo.</summary>
    public static Task<int> RunAsync(string[] args) => Task.FromResult(args.Length >= 0 ? 0 : 1);
}
