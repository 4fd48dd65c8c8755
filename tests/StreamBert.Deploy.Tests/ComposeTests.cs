using System.Globalization;
using System.Text.RegularExpressions;
using StreamBert.Contracts;

namespace StreamBert.Deploy.Tests;

public sealed partial class ComposeTests
{
    private static readonly string[] DependencyConditions = ["service_started", "service_healthy", "service_completed_successfully"];

    private readonly YamlMap _compose = DeployFiles.Compose();

    private Dictionary<string, YamlMap> Services => _compose.Map("services").Entries().ToDictionary(e => e.Key, e => e.Value);

    [Fact]
    public void Compose_DeclaresTheStreamBertStack()
    {
        Assert.Equal(["kafka", "processor", "prometheus", "seed-model", "topics", "trainer"], Services.Keys.Order(StringComparer.Ordinal));
        Assert.StartsWith("apache/kafka:", Services["kafka"].Scalar("image"), StringComparison.Ordinal);
        Assert.Equal(["trainer", "--bootstrap", "kafka:9092", "--registry", "/registry"], Services["trainer"].Scalars("command"));
        Assert.Equal("processor", Services["processor"].Scalars("command")[0]);
    }

    [Fact]
    public void Compose_EveryService_HasAnImageOrABuildWhoseDockerfileExists()
    {
        foreach (var (name, service) in Services)
        {
            Assert.True(service.Has("image") || service.Has("build"), $"service {name} has neither image nor build");
            if (service.MapOrNull("build") is { } build)
            {
                var context = Path.GetFullPath(Path.Combine(DeployFiles.Directory, build.Scalar("context")));
                Assert.True(Directory.Exists(context), $"{build.Where}.context: {context} does not exist");
                var dockerfile = Path.Combine(context, build.ScalarOrNull("dockerfile") ?? "Dockerfile");
                Assert.True(File.Exists(dockerfile), $"{build.Where}.dockerfile: {dockerfile} does not exist");
            }
        }
    }

    [Fact]
    public void Compose_DependsOn_NamesServicesWithSatisfiableConditionsAndNoCycle()
    {
        var services = Services;
        foreach (var (name, service) in services)
        {
            foreach (var (target, condition) in DependsOn(service))
            {
                Assert.True(services.ContainsKey(target), $"service {name} depends on {target}, which is not a service");
                Assert.Contains(condition, DependencyConditions);
                if (condition == "service_healthy")
                {
                    Assert.True(services[target].Has("healthcheck"), $"{name} waits for {target} to be healthy, but {target} has no healthcheck");
                }

                if (condition == "service_completed_successfully")
                {
                    // A one-shot that restarts never completes, and its dependents never start.
                    Assert.True(services[target].ScalarOrNull("restart") is null or "no", $"{name} waits for {target} to complete, but {target} restarts");
                }
            }
        }

        var visiting = new HashSet<string>();
        var done = new HashSet<string>();
        void Visit(string name, string path)
        {
            Assert.True(visiting.Add(name), $"depends_on cycle: {path}");
            foreach (var (target, _) in DependsOn(services[name]))
            {
                if (!done.Contains(target))
                {
                    Visit(target, $"{path} → {target}");
                }
            }

            visiting.Remove(name);
            done.Add(name);
        }

        foreach (var name in services.Keys)
        {
            if (!done.Contains(name))
            {
                Visit(name, name);
            }
        }
    }

    /// <summary>The processor exits without a model, and producing to a missing topic fails (auto-creation is off).</summary>
    [Fact]
    public void Compose_ProcessorAndTrainer_StartOnlyAfterTheTopicsExistAndAModelIsSeeded()
    {
        foreach (var name in new[] { "processor", "trainer" })
        {
            var dependencies = DependsOn(Services[name]).ToDictionary(d => d.Target, d => d.Condition);
            Assert.Equal("service_completed_successfully", dependencies.GetValueOrDefault("topics"));
            Assert.Equal("service_completed_successfully", dependencies.GetValueOrDefault("seed-model"));
        }

        Assert.Contains(("kafka", "service_healthy"), DependsOn(Services["topics"]));
    }

    [Fact]
    public void Compose_Volumes_NamedOnesAreDeclaredAndBindSourcesExist()
    {
        var declared = _compose.Map("volumes").Keys.ToHashSet(StringComparer.Ordinal);
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, service) in Services)
        {
            foreach (var mount in service.Scalars("volumes"))
            {
                var source = mount.Split(':')[0];
                if (source.StartsWith('.') || source.StartsWith('/'))
                {
                    var path = Path.GetFullPath(Path.Combine(DeployFiles.Directory, source));
                    Assert.True(File.Exists(path) || Directory.Exists(path), $"service {name} mounts {source}, which does not exist ({path})");
                }
                else
                {
                    Assert.True(declared.Contains(source), $"service {name} mounts volume {source}, which is not declared under volumes");
                    used.Add(source);
                }
            }
        }

        Assert.Empty(declared.Except(used));
    }

    /// <summary>
    /// Each client must be told an address the broker advertises on a listener that the client can
    /// reach; otherwise the bootstrap succeeds and every later request goes to an unreachable name.
    /// </summary>
    [Fact]
    public void Compose_KafkaListeners_AreConsistentAndAdvertiseTheAddressTheServicesUse()
    {
        var kafka = Services["kafka"];
        var env = Environment(kafka);
        var listeners = Listeners(env["KAFKA_LISTENERS"]);
        var advertised = Listeners(env["KAFKA_ADVERTISED_LISTENERS"]);
        var protocols = env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].Split(',').Select(p => p.Split(':')[0]).ToHashSet(StringComparer.Ordinal);
        var controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"];

        Assert.Equal(["broker", "controller"], env["KAFKA_PROCESS_ROLES"].Split(',').Order(StringComparer.Ordinal));
        Assert.All(listeners.Keys, name => Assert.Contains(name, protocols));
        Assert.All(advertised.Keys, name => Assert.Contains(name, listeners.Keys));
        Assert.Contains(controller, listeners.Keys);
        Assert.DoesNotContain(controller, advertised.Keys);
        Assert.Contains(env["KAFKA_INTER_BROKER_LISTENER_NAME"], advertised.Keys);

        // KRaft quorum: node 1 at this service's controller port.
        var voter = Regex.Match(env["KAFKA_CONTROLLER_QUORUM_VOTERS"], @"^(\d+)@([^:]+):(\d+)$");
        Assert.True(voter.Success, "KAFKA_CONTROLLER_QUORUM_VOTERS: " + env["KAFKA_CONTROLLER_QUORUM_VOTERS"]);
        Assert.Equal(env["KAFKA_NODE_ID"], voter.Groups[1].Value);
        Assert.Equal("kafka", voter.Groups[2].Value);
        Assert.Equal(listeners[controller].Port, voter.Groups[3].Value);

        // Each advertised address listens on its own port, and one advertised to the host is published.
        foreach (var (name, address) in advertised)
        {
            Assert.Equal(listeners[name].Port, address.Port);
        }

        var published = kafka.Scalars("ports").Select(p => p.Split(':')).Select(p => (Host: p[^2], Container: p[^1])).ToList();
        var toHost = Assert.Single(advertised, a => a.Value.Host == "localhost");
        Assert.Contains((toHost.Value.Port, listeners[toHost.Key].Port), published);

        // The services inside the compose network bootstrap from the address advertised under the service name.
        var internalAddress = advertised.Values.Single(a => a.Host == "kafka").ToString();
        Assert.Equal(internalAddress, Environment(Services["topics"])["BOOTSTRAP"]);
        foreach (var name in new[] { "processor", "trainer" })
        {
            var command = Services[name].Scalars("command").ToList();
            Assert.Equal(internalAddress, command[command.IndexOf("--bootstrap") + 1]);
        }
    }

    [Fact]
    public void Compose_StreamBertServices_SetOnlyRealConfigurationKeysWithValidValues()
    {
        var checkedAny = false;
        foreach (var (name, service) in Services.Where(s => IsStreamBert(s.Value)))
        {
            foreach (var (variable, value) in Environment(service))
            {
                checkedAny = true;
                var problem = ConfigurationKeys.Problem(variable, value);
                Assert.True(problem is null, $"service {name}: {problem}");
            }
        }

        Assert.True(checkedAny, "no StreamBert service sets any configuration");
    }

    [Fact]
    public void Compose_StreamBertServices_ShareTheRegistryVolumeAndOnlyWritersMountItWritable()
    {
        var mounts = Services.Where(s => IsStreamBert(s.Value))
            .ToDictionary(s => s.Key, s => s.Value.Scalars("volumes").Single(v => v.Split(':')[1] == "/registry"));
        Assert.All(mounts.Values, m => Assert.StartsWith("registry:", m, StringComparison.Ordinal));
        Assert.EndsWith(":ro", mounts["processor"], StringComparison.Ordinal);
        Assert.False(mounts["trainer"].EndsWith(":ro", StringComparison.Ordinal), "the trainer writes bundles into the registry");
        Assert.False(mounts["seed-model"].EndsWith(":ro", StringComparison.Ordinal), "seed-model writes the first bundle into the registry");
    }

    [Fact]
    public void Compose_ProcessorAndTrainer_StopGracePeriodExceedsTheHostShutdownTimeout()
    {
        var shutdown = ConfigurationKeys.ProcessorShutdownTimeout();
        foreach (var name in new[] { "processor", "trainer" })
        {
            var grace = Duration(Services[name].Scalar("stop_grace_period"));
            Assert.True(grace > shutdown, $"{name}: stop_grace_period {grace} is not longer than the host's shutdown timeout {shutdown}");
        }
    }

    [Fact]
    public void Compose_TopicsService_RunsTheScriptThatCreatesEveryStreamBertTopic()
    {
        var topics = Services["topics"];
        Assert.Contains("./k8s/create-topics.sh:/create-topics.sh:ro", topics.Scalars("volumes"));
        Assert.Equal(["sh", "/create-topics.sh"], topics.Scalars("entrypoint"));
        Assert.Equal(Services["kafka"].Scalar("image"), topics.Scalar("image"));

        var created = TopicScript.Parse(DeployFiles.TopicScript);
        // The processor dead-letters per input topic; the trainer writes one dead-letter topic for all label topics.
        string[] processorInputs = [Topics.Messages, Topics.Articles];
        string[] written =
        [
            .. processorInputs, .. processorInputs.Select(Topics.DeadLetterOf),
            Topics.LabelsSpam, Topics.LabelsClaims, Topics.LabelsEntities, Topics.LabelsDlq,
            Topics.MessagesSpam, Topics.ArticlesClaims, Topics.ArticlesEntities, Topics.Models, Topics.TrainerRuns,
        ];

        // Exactly these: a topic the script creates that no service writes is a name that drifted.
        Assert.Equal(written.Order(StringComparer.Ordinal), created.Keys.Order(StringComparer.Ordinal));

        Assert.Contains("cleanup.policy=compact", created[Topics.Models].Options, StringComparison.Ordinal);
        Assert.All(created.Values, t => Assert.InRange(t.Partitions, 1, 1000));
    }

    [Fact]
    public void Prometheus_ScrapeTargets_AreComposeServicesThatExposeThePort()
    {
        var prometheus = Yaml.Load(DeployFiles.PrometheusFile);
        var services = Services;
        Assert.Contains("./prometheus.yml:/etc/prometheus/prometheus.yml:ro", services["prometheus"].Scalars("volumes"));

        var targets = new List<(string Job, string Host, string Port)>();
        foreach (var job in prometheus.Maps("scrape_configs"))
        {
            var name = job.Scalar("job_name");
            Assert.Equal("/metrics", job.ScalarOrNull("metrics_path") ?? "/metrics");
            foreach (var sd in job.Maps("dns_sd_configs"))
            {
                targets.AddRange(sd.Scalars("names").Select(n => (name, n, sd.Scalar("port"))));
            }

            foreach (var sc in job.Maps("static_configs"))
            {
                targets.AddRange(sc.Scalars("targets").Select(t => (name, t.Split(':')[0], t.Split(':')[1])));
            }
        }

        Assert.Equal(["processor", "trainer"], targets.Select(t => t.Host).Order(StringComparer.Ordinal));
        foreach (var (job, host, port) in targets)
        {
            Assert.True(services.ContainsKey(host), $"job {job} scrapes {host}, which is not a compose service");
            Assert.True(services[host].Scalars("expose").Contains(port), $"job {job} scrapes {host}:{port}, which {host} does not expose");
        }
    }

    private static bool IsStreamBert(YamlMap service) =>
        service.ScalarOrNull("image") is { } image && image.StartsWith("streambert:", StringComparison.Ordinal);

    /// <summary>Compose's two forms: a list of names (condition service_started) or a mapping with conditions.</summary>
    private static IEnumerable<(string Target, string Condition)> DependsOn(YamlMap service) => service.Raw("depends_on") switch
    {
        null => [],
        IList<object?> => service.Scalars("depends_on").Select(t => (t, "service_started")),
        _ => service.Map("depends_on").Entries().Select(e => (e.Key, e.Value.ScalarOrNull("condition") ?? "service_started")),
    };

    /// <summary>Compose's two forms of environment: a mapping, or a list of NAME=value.</summary>
    private static Dictionary<string, string> Environment(YamlMap service) => service.Raw("environment") switch
    {
        null => [],
        IList<object?> => service.Scalars("environment").Select(e => e.Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : ""),
        _ => service.Map("environment").Keys.ToDictionary(k => k, k => service.Map("environment").Scalar(k)),
    };

    private sealed record ListenerAddress(string Host, string Port)
    {
        public override string ToString() => $"{Host}:{Port}";
    }

    private static Dictionary<string, ListenerAddress> Listeners(string value) =>
        value.Split(',').Select(l => ListenerPattern().Match(l.Trim())).ToDictionary(
            m => m.Success ? m.Groups[1].Value : throw new Xunit.Sdk.XunitException($"not a listener: {value}"),
            m => new ListenerAddress(m.Groups[2].Value, m.Groups[3].Value));

    /// <summary>Compose durations as used here: 90s, 1m30s, 2m, 500ms.</summary>
    private static TimeSpan Duration(string value)
    {
        var total = TimeSpan.Zero;
        var parts = DurationPart().Matches(value);
        Assert.True(parts.Count > 0 && string.Concat(parts.Select(p => p.Value)) == value, $"not a duration: {value}");
        foreach (Match part in parts)
        {
            var amount = double.Parse(part.Groups[1].Value, CultureInfo.InvariantCulture);
            total += part.Groups[2].Value switch
            {
                "h" => TimeSpan.FromHours(amount),
                "m" => TimeSpan.FromMinutes(amount),
                "s" => TimeSpan.FromSeconds(amount),
                _ => TimeSpan.FromMilliseconds(amount),
            };
        }

        return total;
    }

    [GeneratedRegex(@"^([A-Z_]+)://([^:]*):(\d+)$")]
    private static partial Regex ListenerPattern();

    [GeneratedRegex(@"(\d+(?:\.\d+)?)(h|ms|m|s)")]
    private static partial Regex DurationPart();
}
