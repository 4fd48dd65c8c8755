using System.CommandLine;
using System.Text.Json;
using StreamBert.Contracts;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;
using StreamBert.Training.Jobs;

namespace StreamBert.Cli.Commands;

internal static class EvalCommand
{
    public static Command Create()
    {
        var task = new Option<string>("--task") { Description = "spam | claims | ner", Required = true };
        task.AcceptOnlyFromAmong(TaskNames.Spam, TaskNames.Claims, TaskNames.Ner);
        var data = new Option<string[]>("--data") { Description = "Evaluation file(s), all of each is used", Required = true, AllowMultipleArgumentsPerToken = true };
        var registry = new Option<string>("--registry")
        {
            Description = $"Model registry folder, its current version is evaluated (default: Processor:Registry, else {ModelRegistry.DefaultRoot})",
            DefaultValueFactory = _ => Configured.Value("Processor:Registry") ?? ModelRegistry.DefaultRoot,
        };
        var model = new Option<string?>("--model") { Description = "A bundle folder to evaluate instead of the registry's current version" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object" };
        var precision = new Option<string>("--precision")
        {
            Description = "Encoder graph to evaluate: fp32, or int8 (the bundle's int8 encoder, else its encoder quantised into the cache), as Processor:Precision serves it",
            DefaultValueFactory = _ => "fp32",
        };
        precision.AcceptOnlyFromAmong([.. EncoderPrecisions.Names]);
        var heldOut = new Option<bool>("--held-out") { Description = "Only the rows `train` holds out of these files (dedup + hash split), instead of all rows" };
        var command = new Command("eval", "Evaluate a model on a labelled file through the serving path")
        {
            task, data, registry, model, json, heldOut, precision,
        };
        CommandChecks.Files(data);
        model.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } dir && !File.Exists(Path.Combine(dir, ModelRegistry.ManifestFile)))
            {
                r.AddError($"--model {dir}: no bundle there (no {ModelRegistry.ManifestFile}).");
            }
        });
        command.SetAction(async (result, ct) =>
        {
            var taskName = result.GetValue(task)!;
            var bundleDir = result.GetValue(model);
            if (bundleDir is null)
            {
                var reg = new ModelRegistry(result.GetValue(registry)!);
                var bundle = TaskDefaults.BundleOf(taskName);
                bundleDir = reg.CurrentDirectory(bundle)
                    ?? throw new UsageException($"the registry {reg.Root} has no current version of {bundle} (--registry, or --model with a bundle folder).");
            }

            var report = await Task.Run(() => EvaluationJob.Run(taskName, result.GetValue(data)!, bundleDir, ct, result.GetValue(heldOut), EncoderPrecisions.Parse(result.GetValue(precision))), ct);
            Console.WriteLine(result.GetValue(json)
                ? JsonSerializer.Serialize(report)
                : JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        });
        return command;
    }
}
