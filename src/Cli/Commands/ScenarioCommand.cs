using System.CommandLine;
using StreamBert.Cli.Scenarios;
using StreamBert.Contracts;
using StreamBert.Service.Inputs;

namespace StreamBert.Cli.Commands;

internal static class ScenarioCommand
{
    /// <summary>The original top-level verb, kept for scripts that call it; <c>scenario learn</c> is the same command.</summary>
    public static Command Create() => CreateLearn("scenario-learn");

    /// <summary><c>scenario learn | learning-curve | active-learning | cross-domain | email-views</c>.</summary>
    public static Command CreateGroup() => new("scenario", "Measured scenarios of the labelling loop")
    {
        CreateLearn("learn"),
        CreateLearningCurve(),
        CreateActiveLearning(),
        CreateCrossDomain(),
        CreateEmailViews(),
    };

    private static Command CreateLearn(string name)
    {
        var registry = new Option<string?>("--registry") { Description = "Registry whose current spam version is the SMS-only starting model (default: train one)" };
        var labels = new Option<int>("--labels") { Description = "Enron emails the reviewers label", DefaultValueFactory = _ => 500 };
        var evaluate = new Option<int>("--evaluate") { Description = "Held-out Enron emails measured through the processor before and after", DefaultValueFactory = _ => 400 };
        var command = new Command(name, "Continuous learning end to end: SMS-only model, Enron reviewer labels, retrain, hot swap, F1 on held-out Enron before/after")
        {
            registry, labels, evaluate,
        };
        CommandChecks.AtLeast(labels, 1);
        CommandChecks.AtLeast(evaluate, 1);
        command.SetAction((result, ct) => ContinuousLearningScenario.RunAsync(result.GetValue(registry), result.GetValue(labels), result.GetValue(evaluate), Console.Out, ct));
        return command;
    }

    private static Command CreateLearningCurve()
    {
        var registry = RegistryOption();
        var steps = new Option<int[]>("--steps") { Description = "Enron reviewer labels at each step", DefaultValueFactory = _ => [25, 50, 100, 200, 400, 800], AllowMultipleArgumentsPerToken = true };
        var evaluate = new Option<int>("--evaluate") { Description = "Most held-out Enron emails measured (a salted hash sample of the held-out split)", DefaultValueFactory = _ => 1000 };
        var seeds = new Option<int>("--seeds") { Description = "Label orders; each point is the median over them", DefaultValueFactory = _ => 1 };
        var seed = new Option<int>("--seed") { Description = "First seed (label order and head training)", DefaultValueFactory = _ => 17 };
        var strategies = new Option<string>("--strategies") { Description = "Comma-separated: " + string.Join(", ", LabelStrategy.All.Select(s => $"{s.Name} ({s.Description})")), DefaultValueFactory = _ => string.Join(",", LabelStrategy.All.Select(s => s.Name)) };
        var json = new Option<string?>("--json") { Description = "Also write the results to this JSON file" };
        var task = new Option<string>("--task") { Description = "spam: SMS-only model, Enron labels; ner: CoNLL-2003 model, Wikigold sentences as labels (strategies labels, mixed, weighted)", DefaultValueFactory = _ => TaskNames.Spam };
        task.AcceptOnlyFromAmong(TaskNames.Spam, TaskNames.Ner);
        var baseSentences = new Option<int>("--base-sentences") { Description = "ner: CoNLL-2003 training sentences the starting model and the mixed strategies use (the first N, as train --limit)", DefaultValueFactory = _ => 1000 };
        var command = new Command("learning-curve", "F1, precision, recall and FPR on held-out Enron after 25..800 Enron reviewer labels, per way of combining them with the SMS base data (heads only, cached features); --task ner: entity F1 on held-out Wikigold documents after 25..800 Wikigold sentences")
        {
            registry, steps, evaluate, seeds, seed, strategies, json, task, baseSentences,
        };
        CommandChecks.AtLeast(baseSentences, 1);
        CommandChecks.AtLeast(evaluate, 1);
        CommandChecks.AtLeast(seeds, 1);
        PositiveCounts(steps);
        command.SetAction((result, ct) =>
        {
            if (result.GetValue(task) == TaskNames.Ner)
            {
                var given = result.GetResult(strategies) is { Implicit: false };
                var chosen = LabelStrategy.Parse(given ? result.GetValue(strategies)! : "labels,mixed,weighted");
                if (chosen.FirstOrDefault(s => s.LabelWeight == 0 || s.CalibrateOnLabels) is { } unsupported)
                {
                    throw new UsageException($"--strategies: {unsupported.Name} is a spam strategy; ner takes labels, mixed, weighted.");
                }

                return NerLearningCurveScenario.RunAsync(
                    new NerCurveRequest(result.GetValue(registry), result.GetValue(steps)!, result.GetValue(baseSentences), result.GetValue(seeds), result.GetValue(seed), chosen, result.GetValue(json)),
                    Console.Out, ct);
            }

            return LearningCurveScenario.RunAsync(
                new LearningCurveRequest(result.GetValue(registry), result.GetValue(steps)!, result.GetValue(evaluate), result.GetValue(seeds), result.GetValue(seed), LabelStrategy.Parse(result.GetValue(strategies)!), result.GetValue(json)),
                Console.Out, ct);
        });
        return command;
    }

    private static Command CreateActiveLearning()
    {
        var registry = RegistryOption();
        var budgets = new Option<int[]>("--budgets") { Description = "Label counts measured at", DefaultValueFactory = _ => [100, 200, 400], AllowMultipleArgumentsPerToken = true };
        var round = new Option<int>("--round") { Description = "Labels per round; the model is retrained after each", DefaultValueFactory = _ => 50 };
        var window = new Option<int>("--window") { Description = "Stream window the reviewers pick from (the desk's --window)", DefaultValueFactory = _ => 1000 };
        var evaluate = new Option<int>("--evaluate") { Description = "Most held-out emails measured", DefaultValueFactory = _ => 1000 };
        var seeds = new Option<int>("--seeds") { Description = "Seeds (stream window, random sample, head training); medians over them", DefaultValueFactory = _ => 3 };
        var seed = new Option<int>("--seed") { Description = "First seed", DefaultValueFactory = _ => 17 };
        var strategy = new Option<string>("--strategy") { Description = "How labels join the base data when retraining (see learning-curve --strategies)", DefaultValueFactory = _ => "weighted" };
        var json = new Option<string?>("--json") { Description = "Also write the results to this JSON file" };
        var command = new Command("active-learning", "Uncertainty-first vs random reviewer labels at the same budget: F1 and FPR on held-out Enron (else SMS) after 100/200/400 labels, median over seeds")
        {
            registry, budgets, round, window, evaluate, seeds, seed, strategy, json,
        };
        CommandChecks.AtLeast(round, 1);
        CommandChecks.AtLeast(window, 1);
        CommandChecks.AtLeast(evaluate, 1);
        CommandChecks.AtLeast(seeds, 1);
        PositiveCounts(budgets);
        command.SetAction((result, ct) => ActiveLearningScenario.RunAsync(
            new ActiveLearningRequest(result.GetValue(registry), result.GetValue(budgets)!, result.GetValue(round), result.GetValue(window), result.GetValue(evaluate), result.GetValue(seeds), result.GetValue(seed), LabelStrategy.Parse(result.GetValue(strategy)!).Single(), result.GetValue(json)),
            Console.Out, ct));
        return command;
    }

    private static Command CreateCrossDomain()
    {
        var registry = new Option<string>("--registry") { Description = "Registry the heads-only models are trained into (bundles xd-spam, xd-claims, xd-ner), or reused from when their manifest matches", Required = true };
        var data = new Option<string?>("--data") { Description = "Research data folder with spam/enron1_*.jsonl and ner/conll2003_*.txt (default: STREAMBERT_DATA, else ../shared/data); SMS, ClaimBuster and Wikigold fall back to data/" };
        var tasks = new Option<string>("--tasks") { Description = "Comma-separated: spam (SMS → Enron1), claims (ClaimBuster crowdsourced → groundtruth), ner (CoNLL-2003 → Wikigold)", DefaultValueFactory = _ => string.Join(",", CrossDomainRequest.AllTasks) };
        var claimsLimit = new Option<int?>("--claims-limit") { Description = "Claims: train on at most this many crowdsourced rows (as train --limit; default all)" };
        var json = new Option<string?>("--json") { Description = "Also write the rows to this JSON file" };
        var command = new Command("cross-domain", "Every task's heads-only model evaluated in its own domain (held-out rows) and out of it: F1, precision, recall, FPR, ROC-AUC, ECE at the shipped operating point; entity F1 for ner")
        {
            registry, data, tasks, claimsLimit, json,
        };
        CommandChecks.AtLeast(claimsLimit, 1);
        data.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } dir && !Directory.Exists(dir))
            {
                r.AddError($"--data {dir}: no such folder.");
            }
        });
        tasks.Validators.Add(r =>
        {
            var given = SplitList(r.GetValueOrDefault<string>());
            if (given.Count == 0 || given.FirstOrDefault(t => !CrossDomainRequest.AllTasks.Contains(t)) is { } unknown)
            {
                r.AddError($"--tasks: expected a comma-separated list of {string.Join(", ", CrossDomainRequest.AllTasks)}{(given.Count == 0 ? "" : $"; got '{given.First(t => !CrossDomainRequest.AllTasks.Contains(t))}'")}.");
            }
        });
        command.SetAction((result, ct) => CrossDomainScenario.RunAsync(CrossDomainRequestOf(result), Console.Out, ct));
        return command;
    }

    private static Command CreateEmailViews()
    {
        var registry = new Option<string>("--registry") { Description = "Registry the heads-only models are trained into (bundles ev-sms, ev-VIEW), or reused from when trained on the same files", Required = true };
        var data = new Option<string?>("--data") { Description = "Research data folder with spam/enron1_*.jsonl (default: STREAMBERT_DATA, else ../shared/data); SMS falls back to data/" };
        var views = new Option<string>("--views") { Description = "Comma-separated: " + string.Join(", ", EmailText.Names.Keys), DefaultValueFactory = _ => string.Join(",", EmailText.Names.Keys) };
        var json = new Option<string?>("--json") { Description = "Also write the rows to this JSON file" };
        var command = new Command("email-views", "What of an e-mail the encoder reads: each view of Enron1 scored by the SMS-only model and by a model trained on SMS and Enron in that view, on the same held-out messages, and that model on SMS")
        {
            registry, data, views, json,
        };
        data.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } dir && !Directory.Exists(dir))
            {
                r.AddError($"--data {dir}: no such folder.");
            }
        });
        views.Validators.Add(r =>
        {
            var given = SplitList(r.GetValueOrDefault<string>());
            if (given.Count == 0 || given.FirstOrDefault(v => !EmailText.Names.ContainsKey(v)) is { } unknown)
            {
                r.AddError($"--views: expected a comma-separated list of {string.Join(", ", EmailText.Names.Keys)}.");
            }
        });
        command.SetAction((result, ct) => EmailViewsScenario.RunAsync(
            new EmailViewsRequest(result.GetValue(registry)!, result.GetValue(data), [.. SplitList(result.GetValue(views)).Select(v => EmailText.Names[v])], result.GetValue(json)),
            Console.Out,
            ct));
        return command;
    }

    /// <summary>The request a parsed <c>scenario cross-domain</c> command line asks for.</summary>
    internal static CrossDomainRequest CrossDomainRequestOf(ParseResult result) => new(
        result.GetValue<string>("--registry")!,
        result.GetValue<string?>("--data"),
        SplitList(result.GetValue<string>("--tasks")),
        result.GetValue<int?>("--claims-limit"),
        result.GetValue<string?>("--json"));

    private static List<string> SplitList(string? list) =>
        [.. (list ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct(StringComparer.Ordinal)];

    private static void PositiveCounts(Option<int[]> option) => option.Validators.Add(r =>
    {
        if (r.GetValueOrDefault<int[]>() is { } values && (values.Length == 0 || values.Any(v => v < 1)))
        {
            r.AddError($"{option.Name}: give one or more label counts, each at least 1.");
        }
    });

    private static Option<string?> RegistryOption() =>
        new("--registry") { Description = "Registry holding the SMS-only starting model (current spam version); trained into it when it has none, so a later run reuses it (default: a temporary registry)" };
}
