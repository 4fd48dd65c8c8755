using System.Text;
using Confluent.Kafka;
using StreamBert.Engine.Models;
using StreamBert.Engine.Tokenization;
using StreamBert.Processor.Hosting;
using StreamBert.Processor.Ingest;
using StreamBert.Processor.Preprocess;

namespace StreamBert.Processor.Tests.Poison;

/// <summary>
/// The real parsers and preprocessor over the pretrained MiniLM vocabulary, with the sequence lengths the served
/// bundles have (128), without loading a model: what preprocessing does with an input is all these tests look at.
/// </summary>
public sealed class PreprocessProbe
{
    public const string Messages = "messages";
    public const string Articles = "articles";

    private static readonly Lazy<WordPieceTokenizer> SharedTokenizer =
        new(() => WordPieceTokenizer.FromFile(MiniLmResources.Ensure().VocabPath));

    private long _offset;

    public PreprocessProbe(ProcessorOptions? options = null)
    {
        Options = options ?? new ProcessorOptions();
        Preprocessor = new Preprocessor(Options, new TopicNames { Messages = Messages, Articles = Articles });
        var target = new SequenceTarget(128, 0);
        Targets = new PreprocessTargets(SharedTokenizer.Value, target, target, target);
    }

    public ProcessorOptions Options { get; }

    public Preprocessor Preprocessor { get; }

    public PreprocessTargets Targets { get; }

    public PreprocessResult Process(string topic, byte[]? value, byte[]? key = null, Headers? headers = null) =>
        Preprocessor.Process(Record(topic, value, key, headers), Targets);

    public InputRecord Record(string topic, byte[]? value, byte[]? key = null, Headers? headers = null) =>
        new(new TopicPartitionOffset(topic, 0, Interlocked.Increment(ref _offset)), key, value, headers ?? [], 0, 0);

    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);
}
