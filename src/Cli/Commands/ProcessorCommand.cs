using System.CommandLine;
using Microsoft.Extensions.Hosting;
using StreamBert.Engine.Models;
using StreamBert.Processor.Hosting;

namespace StreamBert.Cli.Commands;

internal static class ProcessorCommand
{
    public static Command Create()
    {
        var bootstrap = new Option<string>("--bootstrap") { Description = "Kafka bootstrap servers", Required = true };
        var registry = new Option<string>("--registry") { Description = "Model registry folder", DefaultValueFactory = _ => ModelRegistry.DefaultRoot };
        var group = new Option<string>("--group") { Description = "Consumer group id", DefaultValueFactory = _ => "streambert-processor" };
        var nerBundle = new Option<string?>("--ner-bundle") { Description = "Bundle whose NER head serves articles instead of the articles bundle's, e.g. ner-full" };
        var command = new Command("processor", "Consume messages and articles, label them, publish the labels (at-least-once)")
        {
            bootstrap, registry, group, nerBundle,
        };
        command.SetAction(async (result, ct) =>
        {
            using var host = ProcessorHost.Build(new Dictionary<string, string?>
            {
                ["Processor:BootstrapServers"] = result.GetValue(bootstrap),
                ["Processor:Registry"] = result.GetValue(registry),
                ["Processor:GroupId"] = result.GetValue(group),
                ["Processor:NerBundle"] = result.GetValue(nerBundle),
            });
            return await RunHostAsync(host, ct);
        });
        return command;
    }

    /// <summary>Runs a host until the command is cancelled (SIGINT/SIGTERM) or the host stops itself.</summary>
    public static async Task<int> RunHostAsync(IHost host, CancellationToken ct)
    {
        await host.StartAsync(ct);
        var lifetime = (IHostApplicationLifetime)host.Services.GetService(typeof(IHostApplicationLifetime))!;
        var stopped = new TaskCompletionSource();
        using var r1 = lifetime.ApplicationStopping.Register(() => stopped.TrySetResult());
        using var r2 = ct.Register(() => stopped.TrySetResult());
        await stopped.Task;
        await host.StopAsync(CancellationToken.None);
        return Environment.ExitCode;
    }
}
