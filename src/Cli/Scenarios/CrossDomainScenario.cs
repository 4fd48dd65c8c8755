using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using StreamBert.Contracts;
using StreamBert.Engine.Models;
using StreamBert.Training.Data;
using StreamBert.Training.Jobs;

namespace StreamBert.Cli.Scenarios;

/// <summary>What <c>scenario cross-domain</c> measures.</summary>
/// <param name="Registry">Registry the models are trained into, or reused from when they match (kept).</param>
/// <param name="Data">Research data folder (layout of <c>../shared/data</c>); null: <see cref="RepoPaths.ResearchData"/>.</param>
/// <param name="Tasks">Tasks in the order they run.</param>
/// <param name="ClaimsLimit">Claims: train on at most this many crowdsourced rows (<see cref="TrainRequest.Limit"/>).</param>
/// <param name="Json">Also write the rows to this file.</param>
internal sealed record CrossDomainRequest(string Registry, string? Data, IReadOnlyList<string> Tasks, int? ClaimsLimit, string? Json)
{
    public static IReadOnlyList<string> AllTasks { get; } = [TaskNames.Spam, TaskNames.Claims, TaskNames.Ner];
}

/// <summary>
/// One task's plan: the files its heads-only model trains on and the two sets it is judged on, in its own domain and
/// out of it. <see cref="Missing"/> names what is absent; such a task is skipped, not half measured.
/// </summary>
internal sealed record CrossDomainPlan(
    string Task,
    string TrainedOn,
    IReadOnlyList<string> TrainFiles,
    string? DevFile,
    string? EvalFile,
    IReadOnlyList<string> ExcludeFiles,
    int? Limit,
    CrossDomainSet InDomain,
    CrossDomainSet OutOfDomain,
    string? Missing)
{
    /// <summary>
    /// Each task's bundle in the scenario's registry is the task's own, so a version's <c>training</c> record describes
    /// the one head in it and a later run can tell whether it may reuse it (the served <c>articles</c> bundle carries
    /// claims and ner together, and its latest record describes only the head trained last).
    /// </summary>
    public string Bundle => "xd-" + Task;

    /// <summary>
    /// Where each file is: the research data folder first (its layout), else the data shipped in <c>data/</c>
    /// (SMS, ClaimBuster and Wikigold are in the repository; Enron and CoNLL-2003 may not be).
    /// </summary>
    public static CrossDomainPlan For(string task, string? research, string? shipped, int? claimsLimit)
    {
        string? Find(string researchPath, string? shippedPath)
        {
            var candidates = new[] { research is null ? null : Path.Combine(research, researchPath), shipped is null || shippedPath is null ? null : Path.Combine(shipped, shippedPath) };
            return candidates.FirstOrDefault(c => c is not null && File.Exists(c));
        }

        string Missing(params (string Name, string? Path)[] files) => string.Join(", ", files.Where(f => f.Path is null).Select(f => f.Name));

        switch (task)
        {
            case TaskNames.Spam:
            {
                var sms = Find(Path.Combine("spam", "SMSSpamCollection.tsv"), Path.Combine("sms", "SMSSpamCollection.tsv"));
                var ham = Find(Path.Combine("spam", "enron1_ham.jsonl"), null);
                var spam = Find(Path.Combine("spam", "enron1_spam.jsonl"), null);
                return new CrossDomainPlan(
                    task, "SMS Spam Collection, train split", Files(sms), DevFile: null, EvalFile: null, ExcludeFiles: [], Limit: null,
                    new CrossDomainSet("SMS held-out split", Files(sms), HeldOut: true),
                    new CrossDomainSet("Enron1, all emails", Files(ham, spam), HeldOut: false),
                    NullIfEmpty(Missing(("SMSSpamCollection.tsv", sms), ("spam/enron1_ham.jsonl", ham), ("spam/enron1_spam.jsonl", spam))));
            }

            case TaskNames.Claims:
            {
                var crowd = Find(Path.Combine("claims", "claimbuster_crowdsourced.csv"), Path.Combine("claimbuster", "claimbuster_crowdsourced.csv"));
                var ground = Find(Path.Combine("claims", "claimbuster_groundtruth.csv"), Path.Combine("claimbuster", "claimbuster_groundtruth.csv"));
                // Groundtruth shares texts with crowdsourced: removed from training, or the out-of-domain row would grade memory.
                return new CrossDomainPlan(
                    task, $"ClaimBuster crowdsourced, train split{(claimsLimit is { } l ? string.Create(CultureInfo.InvariantCulture, $" ({l:N0}-row limit)") : "")}, groundtruth texts excluded",
                    Files(crowd), DevFile: null, EvalFile: null, Files(ground), claimsLimit,
                    new CrossDomainSet("ClaimBuster crowdsourced held-out split", Files(crowd), HeldOut: true),
                    new CrossDomainSet("ClaimBuster groundtruth (expert labels), all", Files(ground), HeldOut: false),
                    NullIfEmpty(Missing(("claimbuster_crowdsourced.csv", crowd), ("claimbuster_groundtruth.csv", ground))));
            }

            case TaskNames.Ner:
            {
                var train = Find(Path.Combine("ner", "conll2003_train.txt"), null);
                var valid = Find(Path.Combine("ner", "conll2003_valid.txt"), null);
                var test = Find(Path.Combine("ner", "conll2003_test.txt"), null);
                var wikigold = Find(Path.Combine("ner", "wikigold.conll.txt"), Path.Combine("ner", "wikigold.conll.txt"));
                // As the Quality table's ner row: early stopping on valid, the manifest's own evaluation on test.
                return new CrossDomainPlan(
                    task, "CoNLL-2003 train (early stopping on valid)", Files(train), valid, test, ExcludeFiles: [], Limit: null,
                    new CrossDomainSet("CoNLL-2003 test", Files(test), HeldOut: false),
                    new CrossDomainSet("Wikigold, all", Files(wikigold), HeldOut: false),
                    NullIfEmpty(Missing(("ner/conll2003_train.txt", train), ("ner/conll2003_valid.txt", valid), ("ner/conll2003_test.txt", test), ("wikigold.conll.txt", wikigold))));
            }

            default:
                throw new ArgumentException($"Unknown task {task}.", nameof(task));
        }
    }

    /// <summary>The heads-only training request, as <c>streambert train</c> would build it for these files.</summary>
    public TrainRequest Request(string registry) => TrainRequest.ForTask(Task) with
    {
        DataFiles = TrainFiles,
        Registry = registry,
        Bundle = Bundle,
        DevFile = DevFile,
        EvalFile = EvalFile,
        ExcludeFiles = ExcludeFiles,
        Limit = Limit,
    };

    /// <summary>
    /// Whether a version's manifest is this plan's model: a heads-only head for the task, trained on the same file
    /// names with the same exclusions and limit. Paths are not compared, so a registry moves with its data.
    /// </summary>
    public bool Matches(BundleManifest manifest)
    {
        var t = manifest.Training;
        return manifest.Heads.ContainsKey(Task)
            && t.GetValueOrDefault("task") == Task
            && t.GetValueOrDefault("mode") == TrainModes.Heads
            && t.GetValueOrDefault("files") == Names(TrainFiles)
            && (t.GetValueOrDefault(ExcludedTexts.FilesKey) ?? "") == Names(ExcludeFiles)
            && t.GetValueOrDefault("limit") == Limit?.ToString(CultureInfo.InvariantCulture);
    }

    private static string Names(IReadOnlyList<string> files) => string.Join(";", files.Select(Path.GetFileName));

    private static IReadOnlyList<string> Files(params string?[] files) => [.. files.OfType<string>()];

    private static string? NullIfEmpty(string text) => text.Length == 0 ? null : text;
}

/// <summary>A set a model is judged on: all rows of its files, or only the rows <c>train</c> holds out of them.</summary>
internal sealed record CrossDomainSet(string Name, IReadOnlyList<string> Files, bool HeldOut);

/// <summary>One row of the table: a model on one set, at the version's own operating point (spam and claims).</summary>
internal sealed record CrossDomainRow(
    string Task,
    string Model,
    string TrainedOn,
    string EvaluatedOn,
    bool InDomain,
    int N,
    double F1,
    double Precision,
    double Recall,
    double? Threshold,
    double? FalsePositiveRate,
    double? RocAuc,
    double? PrAuc,
    double? Ece,
    IReadOnlyDictionary<string, TypeScores>? PerType,
    double Seconds)
{
    public static CrossDomainRow From(CrossDomainPlan plan, CrossDomainSet set, bool inDomain, EvaluationReport report, double seconds) => new(
        plan.Task, $"{report.Model.Name} {report.Model.Version}", plan.TrainedOn, set.Name, inDomain, report.N,
        report.F1, report.Precision, report.Recall, report.Threshold, report.FalsePositiveRate, report.RocAuc, report.PrAuc, report.Ece, report.PerType, seconds);
}

/// <summary>
/// The table a user reads before the first review: each task's heads-only model (trained as <c>streambert train</c>
/// trains it, or reused from the registry when its manifest matches) evaluated through the serving path
/// (<see cref="EvaluationJob"/>, as <c>streambert eval</c>) on its own domain's held-out rows and on a neighbouring
/// domain it never saw: spam SMS → Enron1, claims ClaimBuster crowdsourced → groundtruth (groundtruth texts excluded
/// from training), NER CoNLL-2003 → Wikigold. Heads only: fine-tuning NER on CoNLL-2003 takes hours on CPU.
/// </summary>
internal static class CrossDomainScenario
{
    public static async Task<int> RunAsync(CrossDomainRequest request, TextWriter output, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var research = request.Data ?? RepoPaths.ResearchData();
        var shipped = RepoPaths.ShippedData();
        var registry = Path.GetFullPath(request.Registry);
        var models = new ModelRegistry(registry);
        var rows = new List<CrossDomainRow>();
        var skipped = new List<string>();
        foreach (var task in request.Tasks)
        {
            var plan = CrossDomainPlan.For(task, research, shipped, task == TaskNames.Claims ? request.ClaimsLimit : null);
            if (plan.Missing is { } missing)
            {
                var reason = $"{task}: {missing} not found under {research ?? "no research data folder (--data, STREAMBERT_DATA, ../shared/data)"}{(shipped is null ? "" : " or " + shipped)}";
                output.WriteLine("Skipped " + reason);
                skipped.Add(reason);
                continue;
            }

            var directory = await ModelFor(plan, models, output, ct).ConfigureAwait(false);
            foreach (var (set, inDomain) in new[] { (plan.InDomain, true), (plan.OutOfDomain, false) })
            {
                var timer = Stopwatch.StartNew();
                var report = await Task.Run(() => EvaluationJob.Run(task, set.Files, directory, ct, set.HeldOut), ct).ConfigureAwait(false);
                var row = CrossDomainRow.From(plan, set, inDomain, report, timer.Elapsed.TotalSeconds);
                rows.Add(row);
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{clock.Elapsed:mm\\:ss}] {task} on {set.Name}: n {row.N}, F1 {row.F1:F3}, P {row.Precision:F3}, R {row.Recall:F3}")
                    + (row.FalsePositiveRate is { } fpr ? string.Create(CultureInfo.InvariantCulture, $", FPR {fpr:F4}, ROC-AUC {row.RocAuc:F3}, ECE {row.Ece:F3}") : "")
                    + string.Create(CultureInfo.InvariantCulture, $" ({row.Seconds:F0} s)"));
            }
        }

        var table = Table(rows);
        output.WriteLine();
        output.WriteLine(table);
        output.WriteLine($"Total {clock.Elapsed.TotalSeconds:F0} s");
        if (request.Json is { } json)
        {
            await File.WriteAllTextAsync(json, JsonSerializer.Serialize(new
            {
                scenario = "cross-domain",
                registry,
                data = research,
                tasks = request.Tasks,
                claimsLimit = request.ClaimsLimit,
                rows,
                skipped,
                seconds = clock.Elapsed.TotalSeconds,
            }, ScenarioJson.Options), ct).ConfigureAwait(false);
        }

        return rows.Count > 0 ? 0 : 1;
    }

    /// <summary>The plan's model: the bundle's current version when its manifest matches, else one trained now.</summary>
    private static async Task<string> ModelFor(CrossDomainPlan plan, ModelRegistry models, TextWriter output, CancellationToken ct)
    {
        if (models.CurrentDirectory(plan.Bundle) is { } current && plan.Matches(ModelRegistry.ReadManifest(current)))
        {
            output.WriteLine($"{plan.Task}: reusing {plan.Bundle} {Path.GetFileName(current)} ({plan.TrainedOn})");
            return current;
        }

        output.WriteLine($"{plan.Task}: training heads only on {plan.TrainedOn} into {models.Root} (bundle {plan.Bundle})…");
        var manifest = await HeadTrainingJob.RunAsync(plan.Request(models.Root), output, ct).ConfigureAwait(false);
        return models.BundleDirectory(manifest.Name, manifest.Version);
    }

    /// <summary>A markdown table, one row per model and set; FPR, ROC-AUC and ECE are for the binary tasks.</summary>
    public static string Table(IReadOnlyList<CrossDomainRow> rows)
    {
        static string Cell(double? value, string format) => value is { } v ? v.ToString(format, CultureInfo.InvariantCulture) : "–";
        var text = new StringBuilder();
        text.AppendLine("| task | trained on | evaluated on | domain | n | F1 (ner: entity) | precision | recall | FPR | ROC-AUC | ECE | threshold |");
        text.AppendLine("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var r in rows)
        {
            text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Task} | {r.TrainedOn} | {r.EvaluatedOn} | {(r.InDomain ? "in" : "out")} | {r.N} | {r.F1:F3} | {r.Precision:F3} | {r.Recall:F3} | {Cell(r.FalsePositiveRate, "P1")} | {Cell(r.RocAuc, "F3")} | {Cell(r.Ece, "F3")} | {Cell(r.Threshold, "G3")} |"));
        }

        return text.ToString().TrimEnd();
    }
}
