using System.Globalization;
using System.Text;
using Confluent.Kafka;
using StreamBert.Contracts;
using StreamBert.Processor.Hosting;
using StreamBert.Processor.Ingest;

namespace StreamBert.Processor.Postprocess;

/// <summary>
/// Builds dead-letter copies of inputs and knows the largest record the producer accepts (its <c>message.max.bytes</c>).
/// A dead letter is the input's key and value byte for byte, the reason in <see cref="Topics.ErrorHeader"/>, where it came
/// from in <see cref="SourceHeader"/> and the input's own headers — unless that would not fit under the limit: then the
/// input's headers are dropped (<see cref="HeadersDroppedHeader"/> says how many and how large), and if it still does not
/// fit the value, then the key, are cut (<see cref="TruncatedHeader"/>, <see cref="KeyTruncatedHeader"/>: the original
/// length in bytes). A dead letter that cannot be produced would stall its partition for good, so it is made to fit
/// rather than refused.
/// </summary>
public sealed class DeadLetters
{
    /// <summary>Default of librdkafka's <c>message.max.bytes</c>.</summary>
    public const int DefaultMessageMaxBytes = 1_000_000;

    /// <summary>Smallest <c>message.max.bytes</c> dead letters can be fitted under.</summary>
    public const int MinMessageMaxBytes = 16 * 1024;

    /// <summary>
    /// Bytes of the limit kept for what is not key, value or header data: record framing (at most ~40 bytes), header
    /// framing, and the <c>traceparent</c> header egress adds to outputs (~70 bytes).
    /// </summary>
    public const int ReserveBytes = 512;

    /// <summary>Topic/partition/offset of the input.</summary>
    public const string SourceHeader = "streambert-source";

    /// <summary>Original length in bytes of a value cut to fit.</summary>
    public const string TruncatedHeader = "streambert-truncated";

    /// <summary>Original length in bytes of a key cut to fit.</summary>
    public const string KeyTruncatedHeader = "streambert-key-truncated";

    /// <summary>How many input headers were left out of the copy, and their size: "3 headers, 812345 bytes".</summary>
    public const string HeadersDroppedHeader = "streambert-headers-dropped";

    /// <summary>
    /// Output topics that already hold this input's records when it was dead-lettered after producing began (a delivery
    /// failed for one output and not the others), comma-separated; absent when nothing of it was published.
    /// </summary>
    public const string PublishedHeader = "streambert-published";

    /// <summary>Reasons longer than this (in UTF-8 bytes) are cut: a parser message can quote input.</summary>
    public const int MaxReasonBytes = 2048;

    // Per header: name and value length varints plus slack.
    private const int HeaderOverhead = 16;

    private readonly TopicNames _topics;

    public DeadLetters(TopicNames topics, int maxMessageBytes)
    {
        // Room for the reason, the marks and some of the value whatever the input.
        ArgumentOutOfRangeException.ThrowIfLessThan(maxMessageBytes, MinMessageMaxBytes);
        _topics = topics;
        MaxMessageBytes = maxMessageBytes;
    }

    /// <summary>The producer's <c>message.max.bytes</c>: no record larger than this can be produced.</summary>
    public int MaxMessageBytes { get; }

    /// <summary>Key, value and header bytes one record may carry.</summary>
    public int Budget => MaxMessageBytes - ReserveBytes;

    /// <summary>Bytes a record takes against <see cref="Budget"/>.</summary>
    public static long Size(byte[]? key, byte[] value, Headers? headers)
    {
        ArgumentNullException.ThrowIfNull(value);
        long size = (key?.Length ?? 0) + value.Length;
        if (headers is not null)
        {
            foreach (var header in headers)
            {
                size += HeaderSize(header.Key, header.GetValueBytes());
            }
        }

        return size;
    }

    /// <summary>The dead letter of <paramref name="input"/> for <paramref name="reason"/>, fitted under the limit.</summary>
    /// <param name="published">Output topics already holding records of this input (see <see cref="PublishedHeader"/>).</param>
    public OutputRecord For(InputRecord input, string reason, IReadOnlyCollection<string>? published = null)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentException.ThrowIfNullOrEmpty(reason);
        reason = Cut(reason, MaxReasonBytes);
        var position = input.Position;
        var headers = new Headers
        {
            { Topics.ErrorHeader, Encoding.UTF8.GetBytes(reason) },
            { SourceHeader, Encoding.UTF8.GetBytes($"{position.Topic}/{position.Partition.Value}/{position.Offset.Value}") },
        };
        if (published is { Count: > 0 })
        {
            headers.Add(PublishedHeader, Encoding.UTF8.GetBytes(Cut(string.Join(',', published), MaxReasonBytes)));
        }

        var key = input.Key;
        var value = input.Value ?? [];
        long inputHeaders = 0;
        foreach (var header in input.Headers)
        {
            inputHeaders += HeaderSize(header.Key, header.GetValueBytes());
        }

        var fixedPart = Size(null, [], headers);
        if (fixedPart + (key?.Length ?? 0) + value.Length + inputHeaders <= Budget)
        {
            foreach (var header in input.Headers)
            {
                headers.Add(header.Key, header.GetValueBytes());
            }

            return new OutputRecord(_topics.DeadLetterOf(position.Topic), key, value, reason, headers);
        }

        if (input.Headers.Count > 0)
        {
            headers.Add(HeadersDroppedHeader, Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{input.Headers.Count} headers, {inputHeaders} bytes")));
        }

        // Room for the two truncation marks whether or not they are needed keeps the arithmetic single-pass.
        var space = Budget - Size(null, [], headers) - (2 * HeaderSize(KeyTruncatedHeader, new byte[12]));
        var keyLength = key?.Length ?? 0;

        // The value is the evidence: the key gives way first, down to a quarter of the space.
        var keepKey = (int)Math.Min(keyLength, Math.Max(space - value.Length, space / 4));
        var keepValue = (int)Math.Min(value.Length, space - keepKey);
        if (keepKey < keyLength)
        {
            headers.Add(KeyTruncatedHeader, Encoding.ASCII.GetBytes(keyLength.ToString(CultureInfo.InvariantCulture)));
            key = key![..keepKey];
        }

        if (keepValue < value.Length)
        {
            headers.Add(TruncatedHeader, Encoding.ASCII.GetBytes(value.Length.ToString(CultureInfo.InvariantCulture)));
            value = value[..keepValue];
        }

        return new OutputRecord(_topics.DeadLetterOf(position.Topic), key, value, reason, headers);
    }

    private static long HeaderSize(string name, byte[]? value) => Encoding.UTF8.GetByteCount(name) + (value?.Length ?? 0) + HeaderOverhead;

    private static string Cut(string text, int maxBytes)
    {
        if (Encoding.UTF8.GetByteCount(text) <= maxBytes)
        {
            return text;
        }

        // Cut at a character boundary well inside the limit (4 bytes per character at most), then mark the cut.
        var end = Math.Min(text.Length, (maxBytes / 4) - 1);
        if (end > 0 && char.IsHighSurrogate(text[end - 1]))
        {
            end--;
        }

        return text[..end] + "…";
    }
}
