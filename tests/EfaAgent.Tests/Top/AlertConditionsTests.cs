using EfaAgent.Agent.Top;
using EfaAgent.Tests.Support;
using YamlDotNet.RepresentationModel;

namespace EfaAgent.Tests.Top;

/// <summary>
/// top's verdicts and the shipped Prometheus rules have one definition: each condition top uses is
/// text of its rule's expression (so its threshold is the rule's), and every alert is either turned
/// into a verdict or named as left out, with the reason.
/// </summary>
public sealed class AlertConditionsTests
{
    private static readonly Lazy<Dictionary<string, string>> Rules = new(LoadRules);

    public static TheoryData<string, string> Conditions()
    {
        var data = new TheoryData<string, string>();
        foreach (var c in AlertConditions.All)
        {
            data.Add(c.Rule, c.Expression);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Conditions))]
    public void Each_condition_is_text_of_its_rule(string rule, string expression)
    {
        Assert.True(Rules.Value.TryGetValue(rule, out var expr), $"no rule {rule} in deploy/prometheus/rules/");
        Assert.True(Normalize(expr).Contains(Normalize(expression), StringComparison.Ordinal), $"{rule}: expected the expression to contain\n  {expression}\nbut it is\n  {Normalize(expr)}");
    }

    [Fact]
    public void Every_alert_is_a_verdict_or_is_named_as_left_out()
    {
        var alerts = LoadAlertNames();
        var used = AlertConditions.All.Select(c => c.Rule).ToHashSet(StringComparer.Ordinal);

        Assert.DoesNotContain(alerts, a => !used.Contains(a) && !AlertConditions.NotShown.ContainsKey(a));
        Assert.DoesNotContain(AlertConditions.NotShown.Keys, a => !alerts.Contains(a));
    }

    [Fact]
    public void Thresholds_and_lists_read_from_the_rule_text()
    {
        Assert.Equal(0.5, AlertConditions.GpusBusy.Threshold);
        Assert.Equal(10e6, AlertConditions.EnaTransmitBusy.Threshold);
        Assert.Equal(60, AlertConditions.NotSampling.Threshold);
        Assert.Equal(["reset_gpu", "reboot_node"], AlertConditions.CriticalXid.Alternatives);
        Assert.DoesNotContain("sw_power_cap", AlertConditions.Throttled.Alternatives);
        Assert.Matches(AlertConditions.VirtualInterfaces.NegativeRegex, "veth1234");
        Assert.DoesNotMatch(AlertConditions.VirtualInterfaces.NegativeRegex, "ens32");
        Assert.Equal(0, AlertConditions.EnaAllowanceExceeded.Threshold);
    }

    [Fact]
    public void Every_ENA_allowance_counter_of_the_ethtool_table_is_a_condition_with_the_rules_label()
    {
        Assert.Equal(["bw_in", "bw_out", "pps", "conntrack", "linklocal"], EnaAllowance.All.Select(a => a.Name));
        Assert.All(EnaAllowance.All, a => Assert.Contains(a.Condition, AlertConditions.All));
        Assert.Equal("ena_bw_out_allowance_exceeded_total", EnaAllowance.All[1].Counter);
    }

    private static string Normalize(string s) => string.Join(' ', s.Split((char[])[' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries));

    private static IEnumerable<YamlMappingNode> RuleNodes()
    {
        foreach (var file in Directory.GetFiles(Repo.PathTo("deploy", "prometheus", "rules"), "*.yml"))
        {
            var yaml = new YamlStream();
            using var reader = new StringReader(File.ReadAllText(file));
            yaml.Load(reader);
            var root = (YamlMappingNode)yaml.Documents[0].RootNode;
            foreach (var group in ((YamlSequenceNode)root["groups"]).Cast<YamlMappingNode>())
            {
                foreach (var rule in ((YamlSequenceNode)group["rules"]).Cast<YamlMappingNode>())
                {
                    yield return rule;
                }
            }
        }
    }

    private static Dictionary<string, string> LoadRules()
    {
        var rules = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var rule in RuleNodes())
        {
            var name = rule.Children.TryGetValue("alert", out var a) ? a : rule["record"];
            rules[((YamlScalarNode)name).Value!] = ((YamlScalarNode)rule["expr"]).Value!;
        }

        return rules;
    }

    private static HashSet<string> LoadAlertNames() =>
        RuleNodes().Where(r => r.Children.ContainsKey("alert")).Select(r => ((YamlScalarNode)r["alert"]).Value!).ToHashSet(StringComparer.Ordinal);
}
