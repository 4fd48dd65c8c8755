using System.Text.RegularExpressions;
using StreamBert.Contracts;

namespace StreamBert.Deploy.Tests;

public sealed partial class KubernetesTests
{
    private const string Namespace = "streambert";

    private readonly IReadOnlyList<YamlMap> _objects = DeployFiles.KubernetesObjects();

    private IEnumerable<YamlMap> OfKind(string kind) => _objects.Where(o => o.Scalar("kind") == kind);

    private static string Name(YamlMap o) => o.Map("metadata").Scalar("name");

    [Fact]
    public void DeployYaml_EveryFile_Parses()
    {
        var files = DeployFiles.YamlFiles;
        Assert.Contains(files, f => f.EndsWith("docker-compose.yml", StringComparison.Ordinal));
        foreach (var file in files)
        {
            Assert.NotEmpty(Yaml.LoadAll(file));
        }
    }

    [Fact]
    public void Kustomization_Resources_ListEveryManifestOnceAndTheGeneratorFilesExist()
    {
        var kustomization = Yaml.Load(Path.Combine(DeployFiles.Kubernetes, "kustomization.yaml"));
        var resources = kustomization.Scalars("resources");
        var manifests = Directory.EnumerateFiles(DeployFiles.Kubernetes, "*.yaml")
            .Select(Path.GetFileName)
            .Where(f => f != "kustomization.yaml")
            .Order(StringComparer.Ordinal);
        Assert.Equal(manifests, resources.Order(StringComparer.Ordinal));
        Assert.Equal(Namespace, kustomization.Scalar("namespace"));
        foreach (var generator in kustomization.Maps("configMapGenerator"))
        {
            Assert.All(generator.Scalars("files"), f => Assert.True(File.Exists(Path.Combine(DeployFiles.Kubernetes, f)), $"{generator.Where}: {f} does not exist"));
        }
    }

    [Fact]
    public void Manifests_EveryObject_HasApiVersionKindNameAndTheNamespace()
    {
        Assert.NotEmpty(_objects);
        foreach (var o in _objects)
        {
            Assert.Matches(@"^([a-z0-9.-]+/)?v\d+((alpha|beta)\d+)?$", o.Scalar("apiVersion"));
            Assert.Matches("^[A-Z][A-Za-z]+$", o.Scalar("kind"));
            Assert.Matches("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", Name(o));
            if (o.Scalar("kind") != "Namespace")
            {
                Assert.Equal(Namespace, o.Map("metadata").Scalar("namespace"));
            }
        }

        Assert.Equal(Namespace, Name(Assert.Single(OfKind("Namespace"))));
        Assert.Equal(_objects.Count, _objects.Select(o => (o.Scalar("kind"), Name(o))).Distinct().Count());
    }

    [Fact]
    public void Deployments_Selector_MatchesTheTemplateLabels()
    {
        Assert.Equal(["streambert-processor", "streambert-trainer"], OfKind("Deployment").Select(Name).Order(StringComparer.Ordinal));
        foreach (var deployment in OfKind("Deployment"))
        {
            var selector = deployment.Map("spec").Map("selector").Map("matchLabels");
            var labels = deployment.Map("spec").Map("template").Map("metadata").Map("labels");
            Assert.NotEmpty(selector.Keys);
            foreach (var key in selector.Keys)
            {
                Assert.True(labels.ScalarOrNull(key) == selector.Scalar(key), $"{Name(deployment)}: selector {key}={selector.Scalar(key)} does not match the pod template's labels");
            }
        }
    }

    [Fact]
    public void Workloads_Probes_PointAtDeclaredContainerPorts()
    {
        var probes = 0;
        foreach (var (owner, container) in Containers())
        {
            var ports = container.Maps("ports").ToList();
            foreach (var probeName in new[] { "startupProbe", "livenessProbe", "readinessProbe" })
            {
                if (container.MapOrNull(probeName) is not { } probe)
                {
                    continue;
                }

                probes++;
                var action = probe.MapOrNull("httpGet") ?? probe.Map("tcpSocket");
                var port = action.Scalar("port");
                Assert.True(ports.Any(p => p.ScalarOrNull("name") == port || p.Scalar("containerPort") == port),
                    $"{owner}/{container.Scalar("name")}: {probeName} uses port {port}, which the container does not declare");
            }
        }

        Assert.True(probes >= 3, "the processor declares startup, liveness and readiness probes");
    }

    [Fact]
    public void ProcessorDeployment_Probes_LivenessOnHealthzReadinessOnReadyzAtPort9464()
    {
        var container = Container("streambert-processor", "processor");
        var metrics = Assert.Single(container.Maps("ports"));
        Assert.Equal("9464", metrics.Scalar("containerPort"));
        Assert.Equal("/healthz", container.Map("livenessProbe").Map("httpGet").Scalar("path"));
        Assert.Equal("/healthz", container.Map("startupProbe").Map("httpGet").Scalar("path"));
        Assert.Equal("/readyz", container.Map("readinessProbe").Map("httpGet").Scalar("path"));
    }

    [Fact]
    public void Workloads_References_ResolveToConfigMapsClaimsAndEnvironment()
    {
        var configMaps = OfKind("ConfigMap").ToDictionary(Name);
        var generated = Yaml.Load(Path.Combine(DeployFiles.Kubernetes, "kustomization.yaml")).Maps("configMapGenerator").Select(g => g.Scalar("name")).ToHashSet();
        var claims = OfKind("PersistentVolumeClaim").Select(Name).ToHashSet();

        foreach (var (owner, pod) in PodSpecs())
        {
            foreach (var volume in pod.Maps("volumes"))
            {
                if (volume.MapOrNull("persistentVolumeClaim") is { } claim)
                {
                    Assert.Contains(claim.Scalar("claimName"), claims);
                }

                if (volume.MapOrNull("configMap") is { } map)
                {
                    Assert.True(configMaps.ContainsKey(map.Scalar("name")) || generated.Contains(map.Scalar("name")), $"{owner}: volume {volume.Scalar("name")} names ConfigMap {map.Scalar("name")}, which does not exist");
                }
            }

            foreach (var container in pod.Maps("containers"))
            {
                var mounts = container.Maps("volumeMounts").Select(m => m.Scalar("name"));
                Assert.All(mounts, m => Assert.Contains(m, pod.Maps("volumes").Select(v => v.Scalar("name"))));

                foreach (var source in container.Maps("envFrom"))
                {
                    Assert.Contains(source.Map("configMapRef").Scalar("name"), configMaps.Keys);
                }

                foreach (var variable in container.Maps("env"))
                {
                    if (variable.MapOrNull("valueFrom")?.MapOrNull("configMapKeyRef") is { } keyRef)
                    {
                        Assert.True(configMaps.TryGetValue(keyRef.Scalar("name"), out var source) && source.Map("data").Has(keyRef.Scalar("key")),
                            $"{owner}: env {variable.Scalar("name")} reads {keyRef.Scalar("name")}/{keyRef.Scalar("key")}, which does not exist");
                    }
                }

                // $(NAME) in args is expanded by the kubelet only from the container's own environment; an
                // unknown name stays literally "$(NAME)" and the CLI would try to connect to it.
                var environment = Environment(container);
                foreach (var arg in container.Scalars("args").Concat(container.Scalars("command")))
                {
                    foreach (Match reference in VariableReference().Matches(arg))
                    {
                        Assert.True(environment.ContainsKey(reference.Groups[1].Value), $"{owner}/{container.Scalar("name")}: {arg} refers to a variable the container does not have");
                    }
                }
            }
        }
    }

    [Fact]
    public void StreamBertContainers_Environment_IsTheSharedConfigMapOfRealConfigurationKeys()
    {
        var containers = Containers().Where(c => c.Container.Scalar("image") == "streambert").ToList();
        Assert.Equal(2, containers.Count);
        foreach (var (owner, container) in containers)
        {
            Assert.Equal(["streambert-config"], container.Maps("envFrom").Select(s => s.Map("configMapRef").Scalar("name")));
            foreach (var (variable, value) in Environment(container))
            {
                var problem = ConfigurationKeys.Problem(variable, value);
                Assert.True(problem is null, $"{owner}: {problem}");
            }
        }
    }

    [Fact]
    public void ScaledObject_TargetsTheProcessorDeploymentAndItsConsumerGroup()
    {
        var scaled = Single("ScaledObject", "streambert-processor");
        var spec = scaled.Map("spec");
        var target = spec.Map("scaleTargetRef");
        Assert.Equal("Deployment", target.ScalarOrNull("kind") ?? "Deployment");
        var targetName = target.Scalar("name");
        Assert.True(OfKind("Deployment").Any(d => Name(d) == targetName), $"scaleTargetRef names {targetName}, which is not a Deployment here");

        var container = Assert.Single(Single("Deployment", targetName).Map("spec").Map("template").Map("spec").Maps("containers"));
        var args = container.Scalars("args").ToList();
        Assert.Equal("processor", args[0]);
        var group = args[args.IndexOf("--group") + 1];
        var environment = Environment(container);
        var triggers = spec.Maps("triggers");
        Assert.Equal([Topics.Articles, Topics.Messages], triggers.Select(t => t.Map("metadata").Scalar("topic")).Order(StringComparer.Ordinal));
        foreach (var trigger in triggers)
        {
            Assert.Equal("kafka", trigger.Scalar("type"));
            var metadata = trigger.Map("metadata");
            Assert.Equal(group, metadata.Scalar("consumerGroup"));
            // KEDA resolves *FromEnv from the target's containers: the variable must be there.
            Assert.Contains(metadata.Scalar("bootstrapServersFromEnv"), environment.Keys);
            Assert.True(int.Parse(metadata.Scalar("lagThreshold"), System.Globalization.CultureInfo.InvariantCulture) > 0);
            // The processor starts a new group at the earliest offset; the scaler must count lag the same way.
            Assert.Equal("earliest", metadata.Scalar("offsetResetPolicy"));
        }
    }

    /// <summary>A partition is consumed by one group member: replicas beyond the partition count sit idle.</summary>
    [Fact]
    public void ScaledObject_MaxReplicaCount_AtMostThePartitionsOfEveryTriggerTopic()
    {
        var spec = Single("ScaledObject", "streambert-processor").Map("spec");
        var max = spec.Number("maxReplicaCount");
        var min = spec.Number("minReplicaCount");
        Assert.InRange(min, 1, max);
        var partitions = TopicScript.Parse(DeployFiles.TopicScript);
        foreach (var topic in spec.Maps("triggers").Select(t => t.Map("metadata").Scalar("topic")))
        {
            Assert.True(partitions.ContainsKey(topic), $"trigger topic {topic} is not created by create-topics.sh");
            Assert.True(max <= partitions[topic].Partitions, $"maxReplicaCount {max} exceeds the {partitions[topic].Partitions} partitions of {topic}");
        }
    }

    [Fact]
    public void TrainerDeployment_IsOneReplicaWithRecreateStrategyAndWritableRegistry()
    {
        var spec = Single("Deployment", "streambert-trainer").Map("spec");
        Assert.Equal(1, spec.Number("replicas"));
        Assert.Equal("Recreate", spec.Map("strategy").Scalar("type"));
        Assert.False(spec.Map("strategy").Has("rollingUpdate"));
        Assert.DoesNotContain(OfKind("ScaledObject"), s => s.Map("spec").Map("scaleTargetRef").Scalar("name") == "streambert-trainer");

        var trainer = Container("streambert-trainer", "trainer");
        Assert.Equal("trainer", trainer.Scalars("args")[0]);
        var mount = Assert.Single(trainer.Maps("volumeMounts"), m => m.Scalar("mountPath") == "/registry");
        Assert.NotEqual("true", mount.ScalarOrNull("readOnly"));
    }

    [Fact]
    public void RegistryClaim_IsReadWriteManyAndProcessorsMountItReadOnly()
    {
        var claim = Single("PersistentVolumeClaim", "streambert-registry");
        Assert.Contains("ReadWriteMany", claim.Map("spec").Scalars("accessModes"));
        var mount = Assert.Single(Container("streambert-processor", "processor").Maps("volumeMounts"), m => m.Scalar("mountPath") == "/registry");
        Assert.Equal("true", mount.Scalar("readOnly"));
    }

    /// <summary>The trainer host has no options of its own yet; the processor's shutdown timeout stands in for both.</summary>
    [Fact]
    public void Deployments_TerminationGracePeriod_ExceedsTheHostShutdownTimeout()
    {
        var shutdown = ConfigurationKeys.ProcessorShutdownTimeout();
        foreach (var deployment in OfKind("Deployment"))
        {
            var grace = TimeSpan.FromSeconds(deployment.Map("spec").Map("template").Map("spec").Number("terminationGracePeriodSeconds"));
            Assert.True(grace > shutdown, $"{Name(deployment)}: terminationGracePeriodSeconds {grace} is not longer than the host's shutdown timeout {shutdown}");
        }
    }

    [Fact]
    public void TopicsJob_RunsTheGeneratedScriptWithTheClusterAddress()
    {
        var pod = Single("Job", "streambert-topics").Map("spec").Map("template").Map("spec");
        var container = Assert.Single(pod.Maps("containers"));
        Assert.Equal(DeployFiles.KafkaImage, container.Scalar("image"));
        Assert.Equal(["sh", "/scripts/create-topics.sh"], container.Scalars("command"));
        Assert.Equal("streambert-topics-script", Assert.Single(pod.Maps("volumes")).Map("configMap").Scalar("name"));
        Assert.Equal("OnFailure", pod.Scalar("restartPolicy"));
        var bootstrap = Assert.Single(container.Maps("env"), e => e.Scalar("name") == "BOOTSTRAP");
        Assert.Equal("STREAMBERT__Processor__BootstrapServers", bootstrap.Map("valueFrom").Map("configMapKeyRef").Scalar("key"));
    }

    private YamlMap Single(string kind, string name) =>
        _objects.SingleOrDefault(o => o.Scalar("kind") == kind && Name(o) == name) ?? throw new Xunit.Sdk.XunitException($"no {kind} {name} in deploy/k8s");

    private YamlMap Container(string deployment, string container) =>
        Single("Deployment", deployment).Map("spec").Map("template").Map("spec").Maps("containers").Single(c => c.Scalar("name") == container);

    private IEnumerable<(string Owner, YamlMap Pod)> PodSpecs() =>
        _objects.Where(o => o.Scalar("kind") is "Deployment" or "Job")
            .Select(o => ($"{o.Scalar("kind")}/{Name(o)}", o.Map("spec").Map("template").Map("spec")));

    private IEnumerable<(string Owner, YamlMap Container)> Containers() =>
        PodSpecs().SelectMany(p => p.Pod.Maps("containers").Select(c => (p.Owner, c)));

    /// <summary>
    /// The variables a container sees: the keys of the ConfigMaps it takes with envFrom, then its env entries
    /// (a value from a ConfigMap key resolved; one from a Secret or the downward API unknown here, so null).
    /// </summary>
    private Dictionary<string, string?> Environment(YamlMap container)
    {
        var result = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var source in container.Maps("envFrom"))
        {
            var data = Single("ConfigMap", source.Map("configMapRef").Scalar("name")).Map("data");
            foreach (var key in data.Keys)
            {
                result[key] = data.Scalar(key);
            }
        }

        foreach (var variable in container.Maps("env"))
        {
            result[variable.Scalar("name")] = variable.ScalarOrNull("value")
                ?? (variable.MapOrNull("valueFrom")?.MapOrNull("configMapKeyRef") is { } keyRef
                    ? Single("ConfigMap", keyRef.Scalar("name")).Map("data").ScalarOrNull(keyRef.Scalar("key"))
                    : null);
        }

        return result;
    }

    [GeneratedRegex(@"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")]
    private static partial Regex VariableReference();
}
