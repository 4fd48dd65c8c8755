using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using StreamBert.Contracts;
using StreamBert.Engine.Models;
using StreamBert.Engine.Tasks;
using StreamBert.Service.Inputs;
using StreamBert.Training.Data;
using StreamBert.Training.Jobs;

namespace StreamBert.Cli.Scenarios;

/// <summary>What <c>scenario email-views</c> measures.</summary>
/// <param name="Registry">Registry the models are trained into (bundles <c>ev-sms</c>, <c>ev-VIEW</c>), or reused from when they match.</param>
/// <param name="Data">Research data folder (layout of <c>../shared/data</c>); null: <see cref="RepoPaths.ResearchData"/>.</param>
/// <param name="Views">Views in the order they run.</param>
/// <param name="Json">Also write the rows to this file.</param>
internal sealed record EmailViewsRequest(string Registry, string? Data, IReadOnlyList<EmailView> Views, string? Json);

/// <summary>One view's figures: the SMS-only model reading Enron in this view, and a model trained on SMS and Enron in it.</summary>
internal sealed record EmailViewRow(
    string View,
    double MeanCharacters,
    EmailViewScores SmsOnlyOnEnron,
    EmailViewScores MixedOnEnron,
    EmailViewScores MixedOnEnronFirstWindow,
    EmailViewScores MixedOnSms);

internal sealed record EmailViewScores(int N, double F1, double Precision, double Recall, double? FalsePositiveRate, double? RocAuc, double? Ece, double? Threshold)
{
    public static EmailViewScores From(EvaluationReport r) => new(r.N, r.F1, r.Precision, r.Recall, r.FalsePositiveRate, r.RocAuc, r.Ece, r.Threshold);
}

/// <summary>
/// Decides what of an e-mail the encoder reads: each <see cref="EmailView"/> of Enron1 (subject and body as the corpus
/// gives them; it carries no headers, HTML or attachments) is judged twice, always on the same held-out messages (split
/// by the raw message's text, so every view holds out the same ones): (1) the SMS-only model, which is what a new
/// deployment serves before the first review, reads the held-out Enron messages in the view; (2) a heads-only model
/// trained on SMS and the Enron training messages in the view (as <c>streambert train</c> does) is evaluated on the
/// held-out Enron messages in the view and on SMS's held-out split, so a view that helps e-mail at SMS's cost shows, and
/// on the Enron messages once more with only their first window scored (the head is trained on first windows; the
/// processor takes the maximum over up to <c>MaxWindowsPerMessage</c>).
/// Every evaluation goes through the serving path (<see cref="EvaluationJob"/>: windows, window cap, calibration,
/// the version's operating point).
/// </summary>
internal static class EmailViewsScenario
{
    public static async Task<int> RunAsync(EmailViewsRequest request, TextWriter output, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var research = request.Data ?? RepoPaths.ResearchData();
        var shipped = RepoPaths.ShippedData();
        string? Find(string? root, string path) => root is not null && File.Exists(Path.Combine(root, path)) ? Path.Combine(root, path) : null;
        var sms = Find(research, Path.Combine("spam", "SMSSpamCollection.tsv")) ?? Find(shipped, Path.Combine("sms", "SMSSpamCollection.tsv"));
        var ham = Find(research, Path.Combine("spam", "enron1_ham.jsonl"));
        var spam = Find(research, Path.Combine("spam", "enron1_spam.jsonl"));
        if (sms is null || ham is null || spam is null)
        {
            output.WriteLine($"Skipped: needs SMSSpamCollection.tsv and spam/enron1_ham.jsonl, spam/enron1_spam.jsonl under {research ?? "no research data folder (--data, STREAMBERT_DATA, ../shared/data)"}");
            return 1;
        }

        var registry = Path.GetFullPath(request.Registry);
        var models = new ModelRegistry(registry);
        var work = Path.Combine(registry, "email-views");
        Directory.CreateDirectory(work);

        var smsRows = DatasetSplit.Split(DatasetSplit.Deduplicate(SpamDataReader.Read(sms)).Items);
        var smsTrain = Write(Path.Combine(work, "sms.train.jsonl"), smsRows.Train);
        var smsTest = Write(Path.Combine(work, "sms.test.jsonl"), smsRows.Test);
        var enron = DatasetSplit.Split(DatasetSplit.Deduplicate(SpamDataReader.Read(ham).Concat(SpamDataReader.Read(spam))).Items);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"SMS: {smsRows.Train.Count} train, {smsRows.Test.Count} held out; Enron1: {enron.Train.Count} train, {enron.Test.Count} held out (split by the raw message, the same for every view)"));

        var smsOnly = await ModelFor(models, "ev-sms", [smsTrain], smsTest, output, ct).ConfigureAwait(false);
        var rows = new List<EmailViewRow>();
        foreach (var view in request.Views)
        {
            var name = EmailText.NameOf(view);
            var train = Write(Path.Combine(work, $"enron1.{name}.train.jsonl"), View(enron.Train, view));
            var heldOut = View(enron.Test, view);
            var test = Write(Path.Combine(work, $"enron1.{name}.test.jsonl"), heldOut);
            var mixed = await ModelFor(models, "ev-" + name, [smsTrain, train], test, output, ct).ConfigureAwait(false);
            EvaluationReport Evaluate(string directory, string file, int windows = OfflineScorer.DefaultMaxWindows) =>
                EvaluationJob.Run(TaskNames.Spam, [file], directory, ct, maxWindows: windows);
            var row = new EmailViewRow(
                name,
                heldOut.Average(r => (double)r.Text.Length),
                EmailViewScores.From(await Task.Run(() => Evaluate(smsOnly, test), ct).ConfigureAwait(false)),
                EmailViewScores.From(await Task.Run(() => Evaluate(mixed, test), ct).ConfigureAwait(false)),
                EmailViewScores.From(await Task.Run(() => Evaluate(mixed, test, windows: 1), ct).ConfigureAwait(false)),
                EmailViewScores.From(await Task.Run(() => Evaluate(mixed, smsTest), ct).ConfigureAwait(false)));
            rows.Add(row);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"[{clock.Elapsed:mm\\:ss}] {name}: SMS-only on Enron F1 {row.SmsOnlyOnEnron.F1:F3} FPR {row.SmsOnlyOnEnron.FalsePositiveRate:P1}; SMS+Enron on Enron F1 {row.MixedOnEnron.F1:F3} FPR {row.MixedOnEnron.FalsePositiveRate:P1} ECE {row.MixedOnEnron.Ece:F3}, first window only F1 {row.MixedOnEnronFirstWindow.F1:F3} FPR {row.MixedOnEnronFirstWindow.FalsePositiveRate:P1}; on SMS F1 {row.MixedOnSms.F1:F3}"));
        }

        output.WriteLine();
        output.WriteLine(Table(rows));
        output.WriteLine($"Total {clock.Elapsed.TotalSeconds:F0} s");
        if (request.Json is { } json)
        {
            await File.WriteAllTextAsync(json, JsonSerializer.Serialize(new { scenario = "email-views", registry, data = research, rows, seconds = clock.Elapsed.TotalSeconds }, ScenarioJson.Options), ct).ConfigureAwait(false);
        }

        return 0;
    }

    /// <summary>Subject and body of an Enron1 message: the corpus starts each with a <c>Subject:</c> line.</summary>
    public static (string Subject, string Body) SplitEnron(string text)
    {
        const string prefix = "Subject:";
        if (!text.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            return ("", text);
        }

        var end = text.IndexOf('\n', StringComparison.Ordinal);
        return end < 0 ? (text[prefix.Length..].Trim(), "") : (text[prefix.Length..end].Trim(), text[(end + 1)..]);
    }

    /// <summary>The messages as the encoder reads them in <paramref name="view"/>, one row per message in every view.</summary>
    public static List<LabeledText> View(IEnumerable<LabeledText> messages, EmailView view) =>
        [.. messages.Select(m =>
        {
            var (subject, body) = SplitEnron(m.Text);
            var text = EmailText.Compose(subject, body, view);
            // Never empty (EmailText falls back to the other part), so every view keeps every message.
            return new LabeledText(string.IsNullOrWhiteSpace(text) ? m.Text : text, m.Label);
        })];

    /// <summary>The plan's model: the bundle's current version when it was trained on the same files, else one trained now.</summary>
    private static async Task<string> ModelFor(ModelRegistry models, string bundle, IReadOnlyList<string> data, string eval, TextWriter output, CancellationToken ct)
    {
        var files = string.Join(";", data.Select(Path.GetFileName));
        if (models.CurrentDirectory(bundle) is { } current && ModelRegistry.ReadManifest(current).Training.GetValueOrDefault("files") == files)
        {
            output.WriteLine($"{bundle}: reusing {Path.GetFileName(current)} ({files})");
            return current;
        }

        output.WriteLine($"{bundle}: training heads only on {files}…");
        var manifest = await HeadTrainingJob.RunAsync(TrainRequest.ForTask(TaskNames.Spam) with { DataFiles = data, Registry = models.Root, Bundle = bundle, EvalFile = eval }, output, ct).ConfigureAwait(false);
        return models.BundleDirectory(manifest.Name, manifest.Version);
    }

    private static string Write(string path, IEnumerable<LabeledText> rows)
    {
        using var writer = new StreamWriter(path, append: false, new UTF8Encoding(false));
        foreach (var row in rows)
        {
            writer.WriteLine(JsonSerializer.Serialize(new { text = row.Text, label = row.Label }));
        }

        return path;
    }

    /// <summary>A markdown table, one row per view.</summary>
    public static string Table(IReadOnlyList<EmailViewRow> rows)
    {
        var text = new StringBuilder();
        text.AppendLine("| view | mean chars | SMS-only → Enron F1 | FPR | recall | SMS+Enron → Enron F1 | FPR | recall | ROC-AUC | ECE | first window only: F1 | FPR | SMS+Enron → SMS F1 |");
        text.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var r in rows)
        {
            text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.View} | {r.MeanCharacters:F0} | {r.SmsOnlyOnEnron.F1:F3} | {r.SmsOnlyOnEnron.FalsePositiveRate:P1} | {r.SmsOnlyOnEnron.Recall:F3} | {r.MixedOnEnron.F1:F3} | {r.MixedOnEnron.FalsePositiveRate:P1} | {r.MixedOnEnron.Recall:F3} | {r.MixedOnEnron.RocAuc:F3} | {r.MixedOnEnron.Ece:F3} | {r.MixedOnEnronFirstWindow.F1:F3} | {r.MixedOnEnronFirstWindow.FalsePositiveRate:P1} | {r.MixedOnSms.F1:F3} |"));
        }

        return text.ToString().TrimEnd();
    }
}
