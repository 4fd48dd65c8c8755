using System.CommandLine;
using StreamBert.Contracts;
using StreamBert.Engine.Models;
using StreamBert.Training.Jobs;

namespace StreamBert.Cli.Commands;

internal static class TrainCommand
{
    public static Command Create()
    {
        var task = new Option<string>("--task") { Description = "spam | claims | ner", Required = true };
        task.AcceptOnlyFromAmong(TaskNames.Spam, TaskNames.Claims, TaskNames.Ner);
        var data = new Option<string[]>("--data") { Description = "Training file(s); repeat for several", Required = true, AllowMultipleArgumentsPerToken = true };
        var registry = new Option<string>("--registry") { Description = "Model registry folder", DefaultValueFactory = _ => ModelRegistry.DefaultRoot };
        var bundle = new Option<string?>("--bundle") { Description = "Bundle to write (default: spam for spam, articles for claims and ner)" };
        var layers = new Option<string?>("--layers") { Description = "Encoder layers to concatenate, e.g. 6 or 3,4,5,6 (default per task)" };
        var hidden = new Option<int?>("--hidden") { Description = "Hidden units of the head (0 = linear)" };
        var epochs = new Option<int?>("--epochs") { Description = "Maximum epochs (early stopping decides)" };
        var evalFile = new Option<string?>("--eval") { Description = "Evaluate on this file instead of the held-out split" };
        var limit = new Option<int?>("--limit") { Description = "Train on at most this many examples (a quick model)" };
        var devFile = new Option<string?>("--dev") { Description = "Development file for early stopping (ner: CoNLL valid)" };
        var command = new Command("train", "Train a task head on frozen encoder features and write a new bundle version")
        {
            task, data, registry, bundle, layers, hidden, epochs, evalFile, devFile, limit,
        };
        command.SetAction(async (result, ct) =>
        {
            var request = TrainRequest.ForTask(result.GetValue(task)!) with
            {
                DataFiles = result.GetValue(data)!,
                Registry = result.GetValue(registry)!,
                Bundle = result.GetValue(bundle),
                EvalFile = result.GetValue(evalFile),
                DevFile = result.GetValue(devFile),
                Limit = result.GetValue(limit),
            };
            if (result.GetValue(layers) is { } l)
            {
                request = request with { Layers = [.. l.Split(',').Select(int.Parse)] };
            }

            if (result.GetValue(hidden) is { } h)
            {
                request = request with { Hidden = h };
            }

            if (result.GetValue(epochs) is { } e)
            {
                request = request with { Epochs = e };
            }

            var manifest = await HeadTrainingJob.RunAsync(request, Console.Out, ct);
            Console.WriteLine($"Wrote {manifest.Name} {manifest.Version} to {Path.Combine(request.Registry, manifest.Name, manifest.Version)}");
            return 0;
        });
        return command;
    }
}
