using System.Text.RegularExpressions;

namespace StreamBert.Deploy.Tests;

/// <summary>Paths of the repository's <c>deploy/</c> files and their parsed contents.</summary>
public static class DeployFiles
{
    public static string RepositoryRoot { get; } = FindRoot();

    public static string Directory => Path.Combine(RepositoryRoot, "deploy");

    public static string Kubernetes => Path.Combine(Directory, "k8s");

    public static string ComposeFile => Path.Combine(Directory, "docker-compose.yml");

    public static string PrometheusFile => Path.Combine(Directory, "prometheus.yml");

    public static string TopicScript => Path.Combine(Kubernetes, "create-topics.sh");

    public static IReadOnlyList<string> Dockerfiles { get; } = [Path.Combine(Directory, "Dockerfile"), Path.Combine(Directory, "Dockerfile.cuda")];

    /// <summary>Every YAML file under deploy/, so none escapes the parse test.</summary>
    public static IReadOnlyList<string> YamlFiles =>
        System.IO.Directory.EnumerateFiles(Directory, "*.*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".yml", StringComparison.Ordinal) || f.EndsWith(".yaml", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .ToList();

    public static YamlMap Compose() => Yaml.Load(ComposeFile);

    /// <summary>The Kubernetes objects of the manifests kustomization.yaml lists.</summary>
    public static IReadOnlyList<YamlMap> KubernetesObjects() =>
        Yaml.Load(Path.Combine(Kubernetes, "kustomization.yaml")).Scalars("resources")
            .SelectMany(r => Yaml.LoadAll(Path.Combine(Kubernetes, r)))
            .ToList();

    public static YamlMap KubernetesObject(string kind, string name) =>
        KubernetesObjects().SingleOrDefault(o => o.ScalarOrNull("kind") == kind && o.Map("metadata").ScalarOrNull("name") == name)
        ?? throw new Xunit.Sdk.XunitException($"no {kind} named {name} in deploy/k8s");

    /// <summary>The Apache Kafka image compose runs; the Testcontainers test runs the same one.</summary>
    public static string KafkaImage => Compose().Map("services").Map("kafka").Scalar("image");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "StreamBert.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("StreamBert.sln not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>One <c>create TOPIC PARTITIONS [kafka-topics options]</c> line of create-topics.sh.</summary>
public sealed record TopicSpec(string Name, int Partitions, string Options);

public static partial class TopicScript
{
    /// <summary>The topics the script creates, by name.</summary>
    public static IReadOnlyDictionary<string, TopicSpec> Parse(string path)
    {
        var topics = new Dictionary<string, TopicSpec>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(path))
        {
            var match = CreateLine().Match(line);
            if (match.Success)
            {
                var spec = new TopicSpec(match.Groups[1].Value, int.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture), match.Groups[3].Value.Trim());
                Assert.True(topics.TryAdd(spec.Name, spec), $"{path}: topic {spec.Name} is created twice");
            }
        }

        return topics;
    }

    [GeneratedRegex(@"^create\s+(\S+)\s+(\d+)(.*)$")]
    private static partial Regex CreateLine();
}
