using System.CommandLine;
using System.Globalization;
using Confluent.Kafka;
using Microsoft.Extensions.Configuration;
using StreamBert.Contracts;
using StreamBert.Engine.Models;
using StreamBert.Kafka;
using StreamBert.Processor.Hosting;
using StreamBert.Service.Hosting;

namespace StreamBert.Cli.Commands;

/// <summary><c>streambert models list|promote|rollback</c>: the registry's versions and which one is served.</summary>
internal static class ModelsCommand
{
    public static Command Create()
    {
        // Defaults are the processors' configuration (appsettings.json, STREAMBERT__), so promote acts on what they serve.
        var registry = new Option<string>("--registry") { Description = $"Model registry folder (default: Processor:Registry, else {ModelRegistry.DefaultRoot})", DefaultValueFactory = _ => Configured.Value("Processor:Registry") ?? ModelRegistry.DefaultRoot };
        var bootstrap = new Option<string?>("--bootstrap")
        {
            Description = "Also publish ModelPublished on the models topic of this cluster, so running processors learn of it (default: Processor:BootstrapServers; "
                + "the producer takes every Kafka:Producer: setting, e.g. security.protocol, sasl.*, ssl.*)",
        };
        var topic = new Option<string>("--topic") { Description = $"Models topic (default: Topics:Models, else {Topics.Models})", DefaultValueFactory = _ => Configured.Value("Topics:Models") ?? Topics.Models };
        var registryOnly = new Option<bool>("--registry-only")
        {
            Description = "With no bootstrap servers given or configured: change CURRENT only. Running processors keep what the models topic says, and a trainer resets CURRENT to it on start",
        };

        var list = new Command("list", "Bundles, their versions, the current one, metrics and creation time") { registry };
        list.SetAction(result =>
        {
            var reg = new ModelRegistry(result.GetValue(registry)!);
            foreach (var bundle in reg.Bundles())
            {
                var current = reg.CurrentVersion(bundle);
                Console.WriteLine(bundle);
                foreach (var version in reg.Versions(bundle))
                {
                    var manifest = reg.ReadManifest(bundle, version);
                    var metrics = string.Join("; ", manifest.Metrics.Select(m =>
                        $"{m.Key} " + string.Join(" ", m.Value.Where(kv => kv.Key is "f1" or "accuracy").Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key} {kv.Value:F3}")))));
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  {(version == current ? "*" : " ")} {version,-5} {manifest.CreatedAt:yyyy-MM-dd HH:mm}  parent {manifest.ParentVersion ?? "-",-5} heads {string.Join(",", manifest.Heads.Keys),-12} {metrics}"));
                }
            }

            return 0;
        });

        var bundleArg = new Argument<string>("bundle") { Description = "Bundle name, e.g. spam or articles" };
        var versionArg = new Argument<string>("version") { Description = "Version, e.g. v3" };
        var promote = new Command("promote", "Serve this version: publish ModelPublished, then mark it current (--registry-only: CURRENT alone)") { bundleArg, versionArg, registry, bootstrap, topic, registryOnly };
        promote.Validators.Add(result =>
        {
            if (Problem(result.GetValue(registry)!, ModelPromotion.Promote, result.GetValue(bundleArg)!, result.GetValue(versionArg)!) is { } problem)
            {
                result.AddError(problem);
            }
        });
        promote.SetAction(async (result, ct) =>
        {
            var reg = new ModelRegistry(result.GetValue(registry)!);
            var change = ModelPromotion.Plan(reg, ModelPromotion.Promote, result.GetValue(bundleArg)!, result.GetValue(versionArg)!);
            return await PublishAsync(reg, change, result.GetValue(bootstrap), result.GetValue(topic)!, result.GetValue(registryOnly), ct);
        });

        var rollbackBundle = new Argument<string>("bundle") { Description = "Bundle name" };
        var rollback = new Command("rollback", "Serve the version before the current one: publish ModelPublished, then mark it current (--registry-only: CURRENT alone)") { rollbackBundle, registry, bootstrap, topic, registryOnly };
        rollback.Validators.Add(result =>
        {
            if (Problem(result.GetValue(registry)!, ModelPromotion.Rollback, result.GetValue(rollbackBundle)!, null) is { } problem)
            {
                result.AddError(problem);
            }
        });
        rollback.SetAction(async (result, ct) =>
        {
            var reg = new ModelRegistry(result.GetValue(registry)!);
            var change = ModelPromotion.Plan(reg, ModelPromotion.Rollback, result.GetValue(rollbackBundle)!);
            return await PublishAsync(reg, change, result.GetValue(bootstrap), result.GetValue(topic)!, result.GetValue(registryOnly), ct);
        });

        var quantizeBundle = new Argument<string>("bundle") { Description = "Bundle name" };
        var quantizeVersion = new Argument<string>("version") { Description = "Version, e.g. v3" };
        var quantize = new Command("quantize", "Write an int8 encoder into an existing version and record it in its manifest (served with Processor:Precision=int8; the fp32 files are unchanged)")
        {
            quantizeBundle, quantizeVersion, registry,
        };
        quantize.Validators.Add(result =>
        {
            var reg = new ModelRegistry(result.GetValue(registry)!);
            var (bundle, version) = (result.GetValue(quantizeBundle)!, result.GetValue(quantizeVersion)!);
            if (!reg.Versions(bundle).Contains(version, StringComparer.Ordinal))
            {
                result.AddError($"{bundle} {version} is not in the registry {reg.Root} (streambert models list shows what is).");
            }
        });
        quantize.SetAction(result =>
        {
            var reg = new ModelRegistry(result.GetValue(registry)!);
            var (bundle, version) = (result.GetValue(quantizeBundle)!, result.GetValue(quantizeVersion)!);
            Console.WriteLine(QuantizeVersion(reg, bundle, version));
            return 0;
        });

        return new Command("models", "List, promote, roll back and quantize model versions") { list, promote, rollback, quantize };
    }

    /// <summary>Records an int8 encoder in <paramref name="bundle"/> <paramref name="version"/>; returns the line to print.</summary>
    internal static string QuantizeVersion(ModelRegistry registry, string bundle, string version)
    {
        var manifest = BundleQuantizer.Quantize(registry.BundleDirectory(bundle, version));
        var int8 = manifest.Int8Encoder!;
        return $"{bundle} {version}: int8 encoder {int8.File} (sha256 {int8.Sha256}, {int8.Quantizer}) from {(manifest.Encoder.File ?? manifest.Encoder.Base)} (sha256 {int8.SourceSha256})";
    }

    /// <summary>Why the registry does not allow the change (one line for the usage error), or null.</summary>
    private static string? Problem(string registry, string reason, string bundle, string? version)
    {
        var reg = new ModelRegistry(registry);
        try
        {
            ModelPromotion.Plan(reg, reason, bundle, version);
            return null;
        }
        catch (InvalidOperationException ex)
        {
            return ex.Message;
        }
    }

    /// <summary>Through <see cref="ModelPromotion"/>, as the reviewer's desk: event first, then CURRENT; CURRENT alone only when asked for.</summary>
    private static async Task<int> PublishAsync(ModelRegistry registry, ModelChange change, string? bootstrap, string topic, bool registryOnly, CancellationToken ct)
    {
        if (ProducerConfig(bootstrap, Configured.Load()) is not { } config)
        {
            if (!registryOnly)
            {
                await Console.Error.WriteLineAsync($"models {change.Reason}: give --bootstrap to publish the change on {topic} before CURRENT moves, or --registry-only to change CURRENT alone (running processors and the trainer follow the topic, not CURRENT)");
                return 2;
            }

            ModelPromotion.MarkCurrentOnly(registry, change);
            Console.WriteLine($"{change.Bundle}: current is now {change.Version} (registry only; nothing published)");
            return 0;
        }

        var position = await ModelPromotion.PublishAsync(registry, change, config, topic, ct);
        Console.WriteLine($"published ModelPublished {change.Bundle} {change.Version} ({change.Reason}) at {position}; current is now {change.Version}");
        return 0;
    }

    /// <summary>
    /// The producer of <c>models promote|rollback</c>: the processors' own producer settings (<c>Kafka:Producer</c>, so
    /// security.protocol, sasl.* and ssl.* reach a secured cluster) with the bootstrap servers of <paramref name="bootstrap"/>,
    /// else <c>Kafka:Producer:bootstrap.servers</c>, else <c>Processor:BootstrapServers</c>; null when none is set (publish nothing).
    /// </summary>
    internal static ProducerConfig? ProducerConfig(string? bootstrap, IConfiguration configuration)
    {
        var servers = bootstrap ?? configuration["Kafka:Producer:bootstrap.servers"] ?? configuration["Processor:BootstrapServers"];
        if (string.IsNullOrWhiteSpace(servers))
        {
            return null;
        }

        var kafka = configuration.GetSection("Kafka").Get<KafkaClientSettings>() ?? new KafkaClientSettings();
        var config = kafka.ProducerConfig(servers);
        config.BootstrapServers = servers;

        // An operator waits on this command: a cluster that cannot be reached fails it in 30 s, not librdkafka's 5 minutes.
        config.MessageTimeoutMs ??= 30_000;
        return config;
    }
}
