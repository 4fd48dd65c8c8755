using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using StreamBert.Contracts;
using StreamBert.Engine.Models;
using StreamBert.Training.Data;
using StreamBert.Training.Jobs;

namespace StreamBert.EndToEnd.Tests;

/// <summary>
/// A real articles bundle (claims head + NER head, heads only) and a spam bundle, trained once per test run into
/// one temporary registry, so that a processor on it serves both bundles. Claims: a fixed subset of ClaimBuster
/// crowdsourced (in the repository, CC BY 4.0). NER: the first sentences of CoNLL-2003 train, read from
/// <c>STREAMBERT_DATA</c> (research-only: copied to a temp file, never into the repository). Without the CoNLL file
/// nothing is trained and the tests marked <see cref="ArticlesFactAttribute"/> are reported as skipped.
/// </summary>
public sealed class ArticlesModelFixture : IDisposable
{
    public const int ClaimRows = 4000;
    public const int NerSentences = 3000;
    public const int SpamRows = 800;

    private readonly string _scratch;
    private readonly StringBuilder _log = new();

    public ArticlesModelFixture()
    {
        Registry = Path.Combine(Path.GetTempPath(), "streambert-e2e-articles-" + Guid.NewGuid().ToString("N"));
        _scratch = Registry + "-data";
        SkipReason = ArticlesData.MissingReason;
        if (SkipReason is not null)
        {
            return;
        }

        Directory.CreateDirectory(_scratch);
        var clock = Stopwatch.StartNew();
        using var log = new StringWriter(_log, CultureInfo.InvariantCulture);

        // Claims: every fifth ClaimBuster row in file order, as JSONL (the trainer's own 80/20 split evaluates it).
        var claimsFile = Path.Combine(_scratch, "claims-subset.jsonl");
        using (var writer = new StreamWriter(claimsFile, false, new UTF8Encoding(false)))
        {
            foreach (var row in ClaimDataReader.Read(ArticlesData.ClaimBusterCrowdsourced).Where((_, i) => i % 5 == 0).Take(ClaimRows))
            {
                writer.WriteLine(JsonSerializer.Serialize(new { text = row.Text, label = row.Label }));
            }
        }

        // NER: the first sentences of CoNLL-2003 train, written back in column format (token, BIO tag).
        var nerFile = Path.Combine(_scratch, "conll-subset.txt");
        using (var writer = new StreamWriter(nerFile, false, new UTF8Encoding(false)))
        {
            foreach (var sentence in ConllReader.Read(ArticlesData.ConllTrain).Take(NerSentences))
            {
                for (var w = 0; w < sentence.Tokens.Count; w++)
                {
                    writer.WriteLine($"{sentence.Tokens[w]} {sentence.Tags[w]}");
                }

                writer.WriteLine();
            }
        }

        // Spam: a fixed 800-line slice of the SMS collection (the trainer splits it 80/20); quality is not under test here.
        var spamFile = Path.Combine(_scratch, "sms-subset.tsv");
        File.WriteAllLines(spamFile, File.ReadLines(RepoData.SmsSpamCollection).Take(SpamRows), new UTF8Encoding(false));

        Timed(log, "claims", () => HeadTrainingJob.Run(TrainRequest.ForTask(TaskNames.Claims) with { DataFiles = [claimsFile], Registry = Registry, Epochs = 12 }, log, CancellationToken.None));
        Articles = Timed(log, "ner", () => HeadTrainingJob.Run(TrainRequest.ForTask(TaskNames.Ner) with { DataFiles = [nerFile], Registry = Registry, Epochs = 8 }, log, CancellationToken.None));
        Spam = Timed(log, "spam", () => HeadTrainingJob.Run(TrainRequest.ForTask(TaskNames.Spam) with { DataFiles = [spamFile], Registry = Registry, Epochs = 5 }, log, CancellationToken.None));
        Elapsed = clock.Elapsed;
        log.WriteLine($"fixture total {Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>Why the articles tests cannot run (CoNLL-2003 absent); null when the bundles were trained.</summary>
    public string? SkipReason { get; }

    public string Registry { get; }

    /// <summary>The articles bundle (both heads), current in <see cref="Registry"/>.</summary>
    public BundleManifest? Articles { get; }

    public BundleManifest? Spam { get; }

    public TimeSpan Elapsed { get; }

    /// <summary>Training log with per-job durations.</summary>
    public string Log => _log.ToString();

    public string ArticlesDirectory => new ModelRegistry(Registry).CurrentDirectory("articles")
        ?? throw new InvalidOperationException("No current articles bundle.");

    public void Dispose()
    {
        foreach (var dir in new[] { Registry, _scratch })
        {
            try
            {
                if (Directory.Exists(dir))
                {
                    Directory.Delete(dir, recursive: true);
                }
            }
            catch (IOException)
            {
            }
        }
    }

    private static BundleManifest Timed(TextWriter log, string what, Func<BundleManifest> train)
    {
        var clock = Stopwatch.StartNew();
        var manifest = train();
        log.WriteLine($"[{what}] trained {manifest.Name} {manifest.Version} in {clock.Elapsed.TotalSeconds:F1} s");
        return manifest;
    }
}

[CollectionDefinition(Name)]
public sealed class ArticlesModelCollection : ICollectionFixture<ArticlesModelFixture>
{
    public const string Name = "articles model";
}

/// <summary>A fact that needs the articles bundle: skipped, with the reason, when CoNLL-2003 is not available.</summary>
public sealed class ArticlesFactAttribute : FactAttribute
{
    public ArticlesFactAttribute()
    {
        if (ArticlesData.MissingReason is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>Where the articles tests find their data.</summary>
public static class ArticlesData
{
    /// <summary><c>STREAMBERT_DATA</c>, else <c>&lt;repo&gt;/../shared/data</c>.</summary>
    public static string SharedRoot =>
        Environment.GetEnvironmentVariable("STREAMBERT_DATA") is { Length: > 0 } explicitRoot
            ? explicitRoot
            : Path.GetFullPath(Path.Combine(RepoData.Root, "..", "shared", "data"));

    public static string ConllTrain => Path.Combine(SharedRoot, "ner", "conll2003_train.txt");

    public static string ClaimBusterCrowdsourced => Path.Combine(RepoData.Root, "data", "claimbuster", "claimbuster_crowdsourced.csv");

    public static string? MissingReason => File.Exists(ConllTrain)
        ? null
        : $"CoNLL-2003 train not found at {ConllTrain} (set STREAMBERT_DATA to the folder holding ner/conll2003_train.txt); the articles bundle cannot be trained";
}
