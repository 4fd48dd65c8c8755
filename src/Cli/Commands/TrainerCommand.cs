using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Hosting;
using StreamBert.Contracts;
using StreamBert.Engine.Models;
using StreamBert.Trainer;

namespace StreamBert.Cli.Commands;

internal static class TrainerCommand
{
    public static Command Create()
    {
        // No flag has a default of its own here: one not given leaves its key to appsettings.json and STREAMBERT__.
        var bootstrap = new Option<string?>("--bootstrap") { Description = "Kafka bootstrap servers (Trainer:BootstrapServers; required here or there)" };
        var registry = new Option<string?>("--registry") { Description = $"Model registry folder (Trainer:Registry; default {ModelRegistry.DefaultRoot})" };
        var group = new Option<string?>("--group") { Description = "Consumer group id (Trainer:GroupId; default streambert-trainer)" };
        var minLabels = new Option<int?>("--min-labels") { Description = "Start a run after this many new labels of a task (Trainer:MinNewLabels; default 500)" };
        var maxWait = new Option<double?>("--max-wait-minutes") { Description = "…or this long after the oldest untrained label (Trainer:MaxWait as hh:mm:ss; default 10 minutes)" };
        maxWait.Validators.Add(r =>
        {
            // TimeSpan.FromMinutes throws on these; the range itself is TrainerOptions' to check.
            if (r.GetValueOrDefault<double?>() is { } m && (!double.IsFinite(m) || Math.Abs(m) >= TimeSpan.MaxValue.TotalMinutes))
            {
                r.AddError($"--max-wait-minutes {m.ToString(CultureInfo.InvariantCulture)} is not a duration in minutes.");
            }
        });
        var tolerance = new Option<double?>("--tolerance") { Description = "Publish only if F1 on every evaluation set >= current - tolerance (Trainer:Tolerance; default 0.005)" };
        var baseData = new Option<string[]>("--base") { Description = "TASK=FILE: labelled data the labels add to, e.g. spam=data/sms/SMSSpamCollection.tsv (repeatable; Trainer:BaseData:TASK:0, :1 …)", AllowMultipleArgumentsPerToken = true };
        var evalFiles = new Option<string[]>("--eval") { Description = "TASK=FILE: fixed evaluation file judged beside the held-out labels (repeatable; Trainer:EvalFiles:TASK)", AllowMultipleArgumentsPerToken = true };
        var bundles = new Option<string[]>("--bundle") { Description = "TASK=BUNDLE: the bundle a task's labels retrain (default spam=spam, claims=articles, ner=articles); a fine-tuned one (e.g. ner=ner-full) keeps being fine-tuned (repeatable; Trainer:Bundles:TASK)", AllowMultipleArgumentsPerToken = true };
        var command = new Command("trainer", "Retrain from reviewers' labels (labels.spam, labels.claims, labels.entities) and publish versions that pass the quality gate")
        {
            bootstrap, registry, group, minLabels, maxWait, tolerance, baseData, evalFiles, bundles,
        };
        command.SetAction(async (result, ct) =>
        {
            using var host = BuildHost(result);
            return await ProcessorCommand.RunHostAsync(host, ct);
        });
        return command;
    }

    /// <summary>The trainer host a parsed <c>trainer</c> command runs (not started): only the flags given override configuration.</summary>
    internal static IHost BuildHost(ParseResult result)
    {
        var bootstrap = result.GetValue<string?>("--bootstrap");
        Configured.RequireBootstrap(bootstrap, "Trainer");
        var settings = new Dictionary<string, string?>();
        Configured.SetIfGiven(settings, "Trainer:BootstrapServers", bootstrap);
        Configured.SetIfGiven(settings, "Trainer:Registry", result.GetValue<string?>("--registry") ?? (Configured.Value("Trainer:Registry") is null ? ModelRegistry.DefaultRoot : null));
        Configured.SetIfGiven(settings, "Trainer:GroupId", result.GetValue<string?>("--group"));
        Configured.SetIfGiven(settings, "Trainer:MinNewLabels", result.GetValue<int?>("--min-labels"));
        Configured.SetIfGiven(settings, "Trainer:MaxWait", result.GetValue<double?>("--max-wait-minutes") is { } minutes ? TimeSpan.FromMinutes(minutes).ToString("c", CultureInfo.InvariantCulture) : null);
        Configured.SetIfGiven(settings, "Trainer:Tolerance", result.GetValue<double?>("--tolerance"));
        AddTaskFiles(settings, "Trainer:BaseData", result.GetValue<string[]>("--base") ?? [], indexed: true);
        AddTaskFiles(settings, "Trainer:EvalFiles", result.GetValue<string[]>("--eval") ?? [], indexed: false);
        AddTaskFiles(settings, "Trainer:Bundles", result.GetValue<string[]>("--bundle") ?? [], indexed: false, files: false);
        return TrainerHost.Build(settings);
    }

    private static void AddTaskFiles(Dictionary<string, string?> settings, string section, string[] values, bool indexed, bool files = true)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var value in values)
        {
            var split = value.Split('=', 2);
            if (split.Length != 2 || split[0] is not (TaskNames.Spam or TaskNames.Claims or TaskNames.Ner) || split[1].Length == 0)
            {
                throw new UsageException($"'{value}' is not TASK={(files ? "FILE" : "BUNDLE")} with TASK one of spam, claims, ner.");
            }

            if (files && !File.Exists(split[1]))
            {
                throw new UsageException($"'{value}': no file {split[1]}.");
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
