using System.CommandLine;
using StreamBert.Cli.Demo;
using StreamBert.Engine.Models;

namespace StreamBert.Cli.Commands;

internal static class DemoCommand
{
    public static Command Create()
    {
        var duration = new Option<int?>("--duration") { Description = "Stop after this many seconds and print a summary (default: run until Ctrl-C)" };
        var registry = new Option<string>("--registry") { Description = "Model registry folder", DefaultValueFactory = _ => ModelRegistry.DefaultRoot };
        var rate = new Option<double>("--rate") { Description = "Messages per second the feeder sends (articles at a twentieth of it)", DefaultValueFactory = _ => 25 };
        var emailShare = new Option<double>("--email-share") { Description = "Share of messages sent as raw RFC 822 emails instead of JSON", DefaultValueFactory = _ => 0.3 };
        var command = new Command("demo", "Embedded Kafka + processor + a feeder replaying real messages; prints labels and throughput live")
        {
            duration, registry, rate, emailShare,
        };
        command.SetAction((result, ct) => DemoRunner.RunAsync(
            new DemoOptions(
                result.GetValue(duration) is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
                result.GetValue(registry)!,
                result.GetValue(rate),
                result.GetValue(emailShare)),
            Console.Out,
            ct));
        return command;
    }
}
