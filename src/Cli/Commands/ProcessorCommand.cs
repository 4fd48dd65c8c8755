using System.CommandLine;
using Microsoft.Extensions.Hosting;
using StreamBert.Engine.Models;
using StreamBert.Processor.Hosting;

namespace StreamBert.Cli.Commands;

internal static class ProcessorCommand
{
    public static Command Create()
    {
        // No flag has a default of its own here: one not given leaves its key to appsettings.json and STREAMBERT__.
        var bootstrap = new Option<string?>("--bootstrap") { Description = "Kafka bootstrap servers (Processor:BootstrapServers; required here or there)" };
        var registry = new Option<string?>("--registry") { Description = $"Model registry folder (Processor:Registry; default {ModelRegistry.DefaultRoot})" };
        var group = new Option<string?>("--group") { Description = "Consumer group id (Processor:GroupId; default streambert-processor)" };
        var nerBundle = new Option<string?>("--ner-bundle") { Description = "Bundle whose NER head serves articles instead of the articles bundle's, e.g. ner-full (Processor:NerBundle)" };
        var command = new Command("processor", "Consume messages and articles, label them, publish the labels (at-least-once). Every Processor:, Topics: and Kafka:Consumer|Producer: key of appsettings.json or STREAMBERT__ applies; a flag given here overrides it")
        {
            bootstrap, registry, group, nerBundle,
        };
        command.SetAction(async (result, ct) =>
        {
            using var host = BuildHost(result);
            return await RunHostAsync(host, ct);
        });
        return command;
    }

    /// <summary>The processor host a parsed <c>processor</c> command runs (not started).</summary>
    internal static IHost BuildHost(ParseResult result) =>
        ProcessorHost.Build(Settings(result.GetValue<string?>("--bootstrap"), result.GetValue<string?>("--registry"), result.GetValue<string?>("--group"), result.GetValue<string?>("--ner-bundle")));

    /// <summary>The host overrides of the flags that were given (and the registry's default when nothing sets it).</summary>
    internal static Dictionary<string, string?> Settings(string? bootstrap, string? registry, string? group, string? nerBundle)
    {
        Configured.RequireBootstrap(bootstrap, "Processor");
        var settings = new Dictionary<string, string?>();
        Configured.SetIfGiven(settings, "Processor:BootstrapServers", bootstrap);
        Configured.SetIfGiven(settings, "Processor:Registry", registry ?? (Configured.Value("Processor:Registry") is null ? ModelRegistry.DefaultRoot : null));
        Configured.SetIfGiven(settings, "Processor:GroupId", group);
        Configured.SetIfGiven(settings, "Processor:NerBundle", nerBundle);
        return settings;
    }

    /// <summary>Runs a host until the command is cancelled (SIGINT/SIGTERM) or the host stops itself; <paramref name="started"/> runs once it is up.</summary>
    public static async Task<int> RunHostAsync(IHost host, CancellationToken ct, Action<IHost>? started = null)
    {
        host.ValidateConfiguration();
        await host.StartAsync(ct);
        started?.Invoke(host);
        var lifetime = (IHostApplicationLifetime)host.Services.GetService(typeof(IHostApplicationLifetime))!;
        var stopped = new TaskCompletionSource();
        using var r1 = lifetime.ApplicationStopping.Register(() => stopped.TrySetResult());
        using var r2 = ct.Register(() => stopped.TrySetResult());
        await stopped.Task;
        await host.StopAsync(CancellationToken.None);
        return Environment.ExitCode;
    }
}
