using System.Diagnostics;
using Confluent.Kafka;
using StreamBert.Engine.Models;
using StreamBert.Engine.Tokenization;
using StreamBert.Processor.Hosting;
using StreamBert.Processor.Ingest;
using StreamBert.Processor.Preprocess;
using Xunit.Abstractions;

namespace StreamBert.EndToEnd.Tests;

/// <summary>
/// Each hostile input alone through the real parsers, preprocessor and tokenizer (no model, no broker): the outcome the
/// end-to-end test expects, reached in time linear in the input (each one in well under a second on a quiet core).
/// </summary>
public sealed class HostileCorpusTests(ITestOutputHelper output)
{
    public static TheoryData<string> Kinds() => [.. HostileCorpus.All("k").Select(h => h.Kind)];

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Process_HostileInputAlone_ExpectedOutcomeWithinSeconds(string kind)
    {
        var input = HostileCorpus.All("k").Single(h => h.Kind == kind);
        var topics = new TopicNames();
        var preprocessor = new Preprocessor(new ProcessorOptions(), topics);
        var target = new SequenceTarget(128, 0);
        var targets = new PreprocessTargets(Vocabulary.Value, target, target, target);
        var headers = new Headers();
        foreach (var (name, value) in input.Headers)
        {
            headers.Add(name, value);
        }

        var record = new InputRecord(new TopicPartitionOffset(input.Topic == HostileTopic.Messages ? topics.Messages : topics.Articles, 0, 0), System.Text.Encoding.UTF8.GetBytes(input.Key), input.Value, headers, 0, 0);
        var clock = Stopwatch.StartNew();

        var result = preprocessor.Process(record, targets);

        output.WriteLine($"{kind}: {input.Value?.Length ?? 0} bytes in {clock.Elapsed.TotalMilliseconds:F0} ms: {result switch { Accepted a => $"{a.Document.Sequences.Count} sequences", Rejected r => r.Reason, _ => "?" }}");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"{kind} took {clock.Elapsed.TotalSeconds:F1} s");

        // An output over message.max.bytes is found after the engine ran, by the postprocessor.
        if (input.Reason is null || input.Reason.StartsWith("output too large", StringComparison.Ordinal))
        {
            var accepted = Assert.IsType<Accepted>(result);
            Assert.Equal(input.LabelId ?? accepted.Document.Id, accepted.Document.Id);
        }
        else
        {
            Assert.Contains(input.Reason, Assert.IsType<Rejected>(result).Reason, StringComparison.Ordinal);
        }
    }

    private static readonly Lazy<WordPieceTokenizer> Vocabulary = new(() => WordPieceTokenizer.FromFile(MiniLmResources.Ensure().VocabPath));
}
