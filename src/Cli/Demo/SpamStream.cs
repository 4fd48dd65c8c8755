using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Confluent.Kafka;
using StreamBert.Contracts;
using StreamBert.Kafka;
using StreamBert.Training.Data;

namespace StreamBert.Cli.Demo;

/// <summary>
/// The message side of the demo: a feeder replaying the SMS Spam Collection (some as JSON, some as raw
/// RFC 822 emails, a few malformed), a reviewer who labels a share of what was fed a few seconds later on
/// <see cref="Topics.LabelsSpam"/>, and a reader that scores every verdict against the truth.
/// </summary>
internal sealed class SpamStream
{
    /// <summary>How long after a message is fed its reviewer label follows.</summary>
    public static readonly TimeSpan ReviewDelay = TimeSpan.FromSeconds(3);

    private readonly string _bootstrap;
    private readonly DemoOptions _options;
    private readonly DemoState _state;
    private readonly ConcurrentDictionary<string, (string Text, string Label)> _truth = new(StringComparer.Ordinal);

    // Reviews wait here for their moment; a full queue drops the review rather than slow the feeder.
    private readonly Channel<(TimeSpan Due, string Id, LabeledText Label)> _reviews =
        Channel.CreateBounded<(TimeSpan, string, LabeledText)>(new BoundedChannelOptions(8192) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true, SingleWriter = true });

    public SpamStream(string bootstrap, DemoOptions options, DemoState state)
    {
        _bootstrap = bootstrap;
        _options = options;
        _state = state;
    }

    public async Task FeedAsync(IReadOnlyList<LabeledText> corpus, CancellationToken ct)
    {
        using var producer = new ProducerBuilder<string, byte[]>(KafkaDefaults.Producer(_bootstrap)).Build();
        var random = new Random(7);
        var interval = TimeSpan.FromSeconds(1.0 / _options.Rate);
        var clock = Stopwatch.StartNew();
        try
        {
            for (long n = 0; !ct.IsCancellationRequested; n++)
            {
                var item = corpus[(int)(n % corpus.Count)];
                var id = $"sms-{n}";
                byte[] value;
                var malformed = n % 97 == 96;
                if (malformed)
                {
                    // A reminder that input is untrusted: these go to messages.dlq with the reason.
                    value = (n / 97 % 3) switch
                    {
                        0 => "{\"id\": \"broken"u8.ToArray(),
                        1 => [0xC3, 0x28, 0x41],
                        _ => JsonSerializer.SerializeToUtf8Bytes(new { id, body = "   " }),
                    };
                }
                else if (random.NextDouble() < _options.EmailShare)
                {
                    value = Encoding.UTF8.GetBytes($"From: sender{n}@example.com\r\nTo: you@example.org\r\nSubject: a message\r\nMessage-ID: <{id}@demo.streambert>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{item.Text}\r\n");
                    _truth[$"{id}@demo.streambert"] = (item.Text, item.Label);
                }
                else
                {
                    value = JsonSerializer.SerializeToUtf8Bytes(new MessageInput(id, item.Text));
                    _truth[id] = (item.Text, item.Label);
                }

                producer.Produce(Topics.Messages, new Message<string, byte[]> { Key = id, Value = value });
                _state.AddFed(malformed);
                if (!malformed && random.NextDouble() < _options.ReviewFraction)
                {
                    _reviews.Writer.TryWrite((clock.Elapsed + ReviewDelay, id, item));
                }

                var due = interval * (n + 1) - clock.Elapsed;
                if (due > TimeSpan.Zero)
                {
                    await Task.Delay(due, ct).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                }
            }
        }
        finally
        {
            _reviews.Writer.TryComplete();
            producer.Flush(TimeSpan.FromSeconds(10));
        }
    }

    /// <summary>Sends each queued review once it is due: the text and the true label, as a reviewer would.</summary>
    public async Task ReviewAsync(CancellationToken ct)
    {
        using var producer = new ProducerBuilder<string, byte[]>(KafkaDefaults.Producer(_bootstrap)).Build();
        var clock = Stopwatch.StartNew();
        try
        {
            while (await _reviews.Reader.WaitToReadAsync(ct).ConfigureAwait(false))
            {
                while (_reviews.Reader.TryRead(out var review))
                {
                    // The feeder's clock started just before this one; a few milliseconds either way do not matter.
                    if (review.Due - clock.Elapsed is { Ticks: > 0 } wait)
                    {
                        await Task.Delay(wait, ct).ConfigureAwait(false);
                    }

                    var value = JsonSerializer.SerializeToUtf8Bytes(new { text = review.Label.Text, label = review.Label.Label });
                    producer.Produce(Topics.LabelsSpam, new Message<string, byte[]> { Key = review.Id, Value = value });
                    _state.AddReview();
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }

        producer.Flush(TimeSpan.FromSeconds(10));
    }

    /// <summary>Reads <see cref="Topics.MessagesSpam"/> until cancelled, then a few seconds more to collect what is in flight.</summary>
    public void Read(CancellationToken ct)
    {
        using var consumer = new ConsumerBuilder<string, byte[]>(KafkaDefaults.Consumer(_bootstrap, "streambert-demo-reader")).Build();
        consumer.Subscribe(Topics.MessagesSpam);
        var drainUntil = (DateTime?)null;
        while (true)
        {
            if (ct.IsCancellationRequested)
            {
                drainUntil ??= DateTime.UtcNow.AddSeconds(5);
                if (DateTime.UtcNow > drainUntil)
                {
                    break;
                }
            }

            var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (result?.Message?.Value is null)
            {
                continue;
            }

            var label = JsonSerializer.Deserialize<SpamLabel>(result.Message.Value)!;
            _state.AddVerdict(label, _truth.TryRemove(label.Id, out var truth) ? truth : null);
        }

        consumer.Close();
    }
}
