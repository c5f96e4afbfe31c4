using EfaAgent.Agent.Demo;
using EfaAgent.Agent.Doctor;
using EfaAgent.Agent.Hosting;
using EfaAgent.Agent.Options;
using EfaAgent.Agent.Sampling;
using EfaAgent.Agent.Top;

namespace EfaAgent.Agent;

internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "demo")
        {
            return await DemoCommand.RunAsync(args[1..]).ConfigureAwait(false);
        }

        if (args.Length > 0 && args[0] == "doctor")
        {
            return await DoctorCommand.RunAsync(args[1..], Console.Out, Console.Error, Environment.GetEnvironmentVariable, !Console.IsOutputRedirected).ConfigureAwait(false);
        }

        if (args.Length > 0 && args[0] == "top")
        {
            return await TopCommand.RunAsync(args[1..]).ConfigureAwait(false);
        }

        var result = OptionsLoader.Load(args, Environment.GetEnvironmentVariable);
        if (result.Help)
        {
            Console.Out.Write(OptionsLoader.Usage());
            return 0;
        }

        if (result.Version)
        {
            Console.Out.WriteLine($"efa-agent {SelfMetrics.Version} (revision {SelfMetrics.Revision})");
            return 0;
        }

        if (result.Options is null)
        {
            await Console.Error.WriteLineAsync($"efa-agent: {result.Error}").ConfigureAwait(false);
            return AgentHost.UsageError;
        }

        return await AgentHost.RunAsync(result.Options).ConfigureAwait(false);
    }
}
