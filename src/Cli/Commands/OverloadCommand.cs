using System.CommandLine;
using StreamBert.Cli.Bench;

namespace StreamBert.Cli.Commands;

internal static class OverloadCommand
{
    public static Command Create()
    {
        var registry = new Option<string>("--registry") { Description = "Model registry folder (the spam model is trained into it if missing)", DefaultValueFactory = _ => Path.Combine(".streambert", "bench-registry") };
        var seconds = new Option<double>("--seconds") { Description = "Length of the overload feed", DefaultValueFactory = _ => 60 };
        var factor = new Option<double>("--factor") { Description = "Feed rate as a multiple of the measured drain rate", DefaultValueFactory = _ => 3 };
        var command = new Command("bench-overload", "A processor child process fed at a multiple of its drain rate: peak memory, p99 consume→output latency, consumer lag during and after, nothing lost")
        {
            registry, seconds, factor,
        };
        command.SetAction(async (result, ct) =>
        {
            // Checked here, not in a validator: validators do not see defaults of options left out.
            var (s, f) = (result.GetValue(seconds), result.GetValue(factor));
            if (s is < 1 or > 3600 || f is < 0.1 or > 20)
            {
                await Console.Error.WriteLineAsync("--seconds must be between 1 and 3600 and --factor between 0.1 and 20.").ConfigureAwait(false);
                return 2;
            }

            return await OverloadBench.RunAsync(result.GetValue(registry)!, s, f, Console.Out, ct).ConfigureAwait(false);
        });
        return command;
    }
}
