using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using StreamBert.Contracts;
using StreamBert.Kafka;
using StreamBert.Review.Spam;
using StreamBert.Training.Data;

namespace StreamBert.Cli.Demo;

/// <summary>
/// The message side of the demo: a feeder replaying the SMS Spam Collection (some as JSON, some as raw
/// RFC 822 emails, a few malformed), simulated reviewers who work the reviewer's desk's queue (uncertain first)
/// and send the true label of a share of the messages to <see cref="Topics.LabelsSpam"/> a few seconds after each
/// was fed, and a reader that scores every verdict against the truth.
/// </summary>
internal sealed class SpamStream
{
    /// <summary>How long after a message is fed its reviewer label follows, at the earliest.</summary>
    public static readonly TimeSpan ReviewDelay = TimeSpan.FromSeconds(3);

    /// <summary>The name the simulated reviewers' labels carry in their <c>reviewer</c> header.</summary>
    public const string Reviewer = "demo reviewer";

    /// <summary>How often the reviewers look at the queue.</summary>
    private static readonly TimeSpan ReviewTick = TimeSpan.FromMilliseconds(250);

    /// <summary>A message not reviewed by then never will be (the desk's window dropped it as sure): its truth is forgotten.</summary>
    private static readonly TimeSpan ReviewHorizon = TimeSpan.FromMinutes(5);

    private readonly string _bootstrap;
    private readonly DemoOptions _options;
    private readonly DemoState _state;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly ConcurrentDictionary<string, (string Text, string Label)> _truth = new(StringComparer.Ordinal);

    // What a reviewer would know about each valid message fed (its true label, when it arrived), oldest first for expiry.
    private readonly ConcurrentDictionary<string, (string Label, TimeSpan FedAt)> _reviewable = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<(string Id, TimeSpan FedAt)> _fedOrder = new();
    private long _validFed;

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
                    Reviewable($"{id}@demo.streambert", item.Label);
                }
                else
                {
                    value = JsonSerializer.SerializeToUtf8Bytes(new MessageInput(id, item.Text));
                    _truth[id] = (item.Text, item.Label);
                    Reviewable(id, item.Label);
                }

                producer.Produce(Topics.Messages, new Message<string, byte[]> { Key = id, Value = value });
                _state.AddFed(malformed);

                var due = interval * (n + 1) - clock.Elapsed;
                if (due > TimeSpan.Zero)
                {
                    await Task.Delay(due, ct).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                }
            }
        }
        finally
        {
            producer.Flush(TimeSpan.FromSeconds(10));
        }
    }

    private void Reviewable(string id, string label)
    {
        var now = _clock.Elapsed;
        _reviewable[id] = (label, now);
        _fedOrder.Enqueue((id, now));
        Interlocked.Increment(ref _validFed);
    }

    /// <summary>
    /// The simulated reviewers at the desk: they label from <paramref name="queue"/> in its own order (least sure first,
    /// as a person at <c>/spam</c> sees it), through the desk's <paramref name="writer"/>, with the true label. Their budget
    /// is <see cref="DemoOptions.ReviewFraction"/> of the valid messages fed so far, and a message is labelled no sooner
    /// than <see cref="ReviewDelay"/> after it was fed.
    /// </summary>
    public async Task ReviewAsync(SpamQueue queue, SpamLabelWriter writer, CancellationToken ct)
    {
        long sent = 0;
        using var timer = new PeriodicTimer(ReviewTick);
        try
        {
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
            {
                var now = _clock.Elapsed;
                while (_fedOrder.TryPeek(out var oldest) && now - oldest.FedAt > ReviewHorizon && _fedOrder.TryDequeue(out oldest))
                {
                    _reviewable.TryRemove(oldest.Id, out _);
                }

                var budget = (long)(Interlocked.Read(ref _validFed) * _options.ReviewFraction) - sent;
                if (budget <= 0)
                {
                    continue;
                }

                foreach (var (item, label) in Choose(queue.Take(QueueMode.Uncertain, queue.Count), budget, _reviewable, now))
                {
                    await writer.WriteAsync(item, label, Reviewer, ct).ConfigureAwait(false);
                    queue.MarkLabelled(item.Id);
                    _reviewable.TryRemove(item.Id, out _);
                    _state.AddReview();
                    sent++;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// What the reviewers label now, with the true label: the first <paramref name="budget"/> items in the queue's order
    /// (<paramref name="ordered"/>) whose truth they know and that were fed at least <see cref="ReviewDelay"/> before
    /// <paramref name="now"/>.
    /// </summary>
    internal static List<(SpamItem Item, string Label)> Choose(IReadOnlyList<SpamItem> ordered, long budget, IReadOnlyDictionary<string, (string Label, TimeSpan FedAt)> known, TimeSpan now)
    {
        var chosen = new List<(SpamItem, string)>();
        foreach (var item in ordered)
        {
            if (chosen.Count >= budget)
            {
                break;
            }

            if (known.TryGetValue(item.Id, out var truth) && now - truth.FedAt >= ReviewDelay)
            {
                chosen.Add((item, truth.Label));
            }
        }

        return chosen;
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
