using System.CommandLine;
using System.Globalization;
using StreamBert.Contracts;
using StreamBert.Engine.Models;
using StreamBert.Trainer;

namespace StreamBert.Cli.Commands;

internal static class TrainerCommand
{
    public static Command Create()
    {
        var bootstrap = new Option<string>("--bootstrap") { Description = "Kafka bootstrap servers", Required = true };
        var registry = new Option<string>("--registry") { Description = "Model registry folder", DefaultValueFactory = _ => ModelRegistry.DefaultRoot };
        var group = new Option<string>("--group") { Description = "Consumer group id", DefaultValueFactory = _ => "streambert-trainer" };
        var minLabels = new Option<int?>("--min-labels") { Description = "Start a run after this many new labels of a task (default 500)" };
        var maxWait = new Option<double?>("--max-wait-minutes") { Description = "…or this long after the oldest untrained label (default 10)" };
        var tolerance = new Option<double?>("--tolerance") { Description = "Publish only if F1 on every evaluation set >= current - tolerance (default 0.005)" };
        var baseData = new Option<string[]>("--base") { Description = "TASK=FILE: labelled data the labels add to, e.g. spam=data/sms/SMSSpamCollection.tsv (repeatable)", AllowMultipleArgumentsPerToken = true };
        var evalFiles = new Option<string[]>("--eval") { Description = "TASK=FILE: fixed evaluation file judged beside the held-out labels (repeatable)", AllowMultipleArgumentsPerToken = true };
        var bundles = new Option<string[]>("--bundle") { Description = "TASK=BUNDLE: the bundle a task's labels retrain (default spam=spam, claims=articles, ner=articles); a fine-tuned one (e.g. ner=ner-full) keeps being fine-tuned (repeatable)", AllowMultipleArgumentsPerToken = true };
        var command = new Command("trainer", "Retrain from reviewers' labels (labels.spam, labels.claims, labels.entities) and publish versions that pass the quality gate")
        {
            bootstrap, registry, group, minLabels, maxWait, tolerance, baseData, evalFiles, bundles,
        };
        command.SetAction(async (result, ct) =>
        {
            var settings = new Dictionary<string, string?>
            {
                ["Trainer:BootstrapServers"] = result.GetValue(bootstrap),
                ["Trainer:Registry"] = result.GetValue(registry),
                ["Trainer:GroupId"] = result.GetValue(group),
            };
            if (result.GetValue(minLabels) is { } n)
            {
                settings["Trainer:MinNewLabels"] = n.ToString(CultureInfo.InvariantCulture);
            }

            if (result.GetValue(maxWait) is { } minutes)
            {
                settings["Trainer:MaxWait"] = TimeSpan.FromMinutes(minutes).ToString("c", CultureInfo.InvariantCulture);
            }

            if (result.GetValue(tolerance) is { } t)
            {
                settings["Trainer:Tolerance"] = t.ToString(CultureInfo.InvariantCulture);
            }

            AddTaskFiles(settings, "Trainer:BaseData", result.GetValue(baseData) ?? [], indexed: true);
            AddTaskFiles(settings, "Trainer:EvalFiles", result.GetValue(evalFiles) ?? [], indexed: false);
            AddTaskFiles(settings, "Trainer:Bundles", result.GetValue(bundles) ?? [], indexed: false, files: false);
            using var host = TrainerHost.Build(settings);
            return await ProcessorCommand.RunHostAsync(host, ct);
        });
        return command;
    }

    private static void AddTaskFiles(Dictionary<string, string?> settings, string section, string[] values, bool indexed, bool files = true)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var value in values)
        {
            var split = value.Split('=', 2);
            if (split.Length != 2 || split[0] is not (TaskNames.Spam or TaskNames.Claims or TaskNames.Ner) || split[1].Length == 0)
            {
                throw new ArgumentException($"'{value}' is not TASK={(files ? "FILE" : "BUNDLE")} with TASK one of spam, claims, ner.");
            }

            if (indexed)
            {
                var index = counts.GetValueOrDefault(split[0]);
                counts[split[0]] = index + 1;
                settings[$"{section}:{split[0]}:{index}"] = Path.GetFullPath(split[1]);
            }
            else
            {
                settings[$"{section}:{split[0]}"] = files ? Path.GetFullPath(split[1]) : split[1];
            }
        }
    }
}
