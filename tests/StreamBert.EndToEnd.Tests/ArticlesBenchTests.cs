using System.Globalization;
using System.Text.Json;
using StreamBert.Cli.Bench;
using StreamBert.Contracts;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;
using StreamBert.Training.Data;
using StreamBert.Training.Jobs;
using Xunit.Abstractions;

namespace StreamBert.EndToEnd.Tests;

/// <summary>
/// <c>streambert bench-articles --compare-precision</c> on a few tiny articles and a tiny articles bundle (both heads
/// trained on 150 ClaimBuster rows and 60 Wikigold sentences, shipped, for a couple of epochs: quality is not under test, only what the bench counts).
/// </summary>
public sealed class ArticlesBenchTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _registry = Path.Combine(Path.GetTempPath(), "streambert-articles-bench-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public void ComparePrecision_TinyArticlesOneLongSentence_BothPrecisionsEncodeOneSequencePerWindowAndRatioIsOfMeasuredRates()
    {
        // Small files rather than Limit: the trainer evaluates on the held-out part of its data file, which for the
        // whole ClaimBuster file alone would take minutes.
        Directory.CreateDirectory(_registry);
        var claimsFile = Path.Combine(_registry, "claims-tiny.jsonl");
        File.WriteAllLines(claimsFile, ClaimDataReader.Read(ArticlesData.ClaimBusterCrowdsourced).Take(150).Select(r => JsonSerializer.Serialize(new { text = r.Text, label = r.Label })));
        var nerFile = Path.Combine(_registry, "ner-tiny.txt");
        File.WriteAllLines(nerFile, ConllReader.Read(Path.Combine(RepoData.Root, "data", "ner", "wikigold.conll.txt")).Take(60).SelectMany(s => s.Tokens.Select((t, i) => $"{t} {s.Tags[i]}").Append("")));
        var registry = Path.Combine(_registry, "registry");
        HeadTrainingJob.Run(TrainRequest.ForTask(TaskNames.Claims) with { DataFiles = [claimsFile], Registry = registry, Epochs = 2 }, TextWriter.Null, CancellationToken.None);
        HeadTrainingJob.Run(TrainRequest.ForTask(TaskNames.Ner) with { DataFiles = [nerFile], Registry = registry, Epochs = 2, NerHoldOutPercent = null }, TextWriter.Null, CancellationToken.None);
        var bundle = new ModelRegistry(registry).CurrentDirectory("articles")!;

        // One sentence longer than a 128-token window, so windows outnumber sentences and the count that matches the
        // encoder's is the windows', not the sentences'.
        var longSentence = string.Join(' ', Enumerable.Range(0, 160).Select(i => "word" + i.ToString(CultureInfo.InvariantCulture))) + '.';
        List<ArticleInput> articles =
        [
            new("tiny-1", "The senator said taxes rose by 40 percent in 2010. We will win. Paris is in France."),
            new("tiny-2", "Unemployment fell to 5 percent last year. Thank you all for coming tonight."),
            new("tiny-3", $"John Smith met Angela Merkel in Berlin. {longSentence} That is all."),
        ];

        using var log = new StringWriter(CultureInfo.InvariantCulture);
        var comparison = ArticlesBench.ComparePrecision(bundle, articles, runs: 2, log, CancellationToken.None);
        output.WriteLine(log.ToString());

        Assert.Equal(EncoderPrecision.Fp32, comparison.Fp32.Precision);
        Assert.Equal(EncoderPrecision.Int8, comparison.Int8.Precision);
        Assert.Contains("fp32 vs int8", log.ToString(), StringComparison.Ordinal);
        Assert.Contains("load average", log.ToString(), StringComparison.Ordinal);
        foreach (var side in new[] { comparison.Fp32, comparison.Int8 })
        {
            Assert.Equal(3, side.Articles);
            Assert.Equal(comparison.Fp32.Sentences, side.Sentences);
            Assert.True(side.Sentences >= side.Articles, $"{side.Sentences} sentences in {side.Articles} articles");
            Assert.True(side.Windows > side.Sentences, $"{side.Windows} windows for {side.Sentences} sentences: the long sentence did not need two");
            Assert.Equal(2, side.Seconds.Count);
            Assert.All(side.Seconds, s => Assert.True(s > 0 && double.IsFinite(s), $"{side.Precision}: {s} s"));
            Assert.Equal(2, side.SequencesPerRun.Count);
            Assert.All(side.SequencesPerRun, s => Assert.Equal(side.Windows, s));
            Assert.True(side.OnePass);
            Assert.Equal(side.Sentences / BenchStats.Median(side.Seconds), side.SentencesPerSecond, 9);
        }

        Assert.Equal(comparison.Int8.SentencesPerSecond / comparison.Fp32.SentencesPerSecond, comparison.Int8OverFp32, 9);
        Assert.True(double.IsFinite(comparison.Int8OverFp32) && comparison.Int8OverFp32 > 0, $"ratio {comparison.Int8OverFp32}");
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_registry, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
