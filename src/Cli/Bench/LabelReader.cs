using System.Diagnostics.CodeAnalysis;
using System.Diagnostics;
using System.Buffers.Text;
using System.Text;
using Confluent.Kafka;
using StreamBert.Kafka;

namespace StreamBert.Cli.Bench;

/// <summary>
/// Consumes an output topic on its own thread and stamps, with the process's <see cref="Stopwatch"/> clock,
/// when the first label for each bench message id (<c>{prefix}{index}</c>) arrived. Sender and reader share
/// that clock, so arrival − send is an exact end-to-end latency including both Kafka hops.
/// </summary>
internal sealed class LabelReader : IDisposable
{
    private readonly long[] _arrived;
    private readonly byte[] _prefix;
    private readonly Thread _thread;
    private volatile bool _stop;
    private int _count;
    private Exception? _failure;

    public LabelReader(string bootstrap, string topic, string prefix, int capacity)
    {
        _arrived = new long[capacity];
        _prefix = Encoding.UTF8.GetBytes(prefix);
        var config = KafkaDefaults.Consumer(bootstrap, "bench-reader-" + Guid.NewGuid().ToString("N"));

        // The embedded (mock) broker holds a fetch for fetch.wait.max.ms even when data arrives meanwhile;
        // the measuring consumer must not add its own up-to-100 ms to every latency it measures.
        config.FetchWaitMaxMs = 5;
        _thread = new Thread(() => Loop(config, topic)) { IsBackground = true, Name = "bench-label-reader" };
        _thread.Start();
    }

    public int Count => Volatile.Read(ref _count);

    /// <summary>Stopwatch timestamp of the label for message <paramref name="index"/>, 0 if none yet.</summary>
    public long ArrivedAt(int index) => Volatile.Read(ref _arrived[index]);

    /// <summary>Waits until <paramref name="count"/> distinct labels arrived; false on timeout.</summary>
    public async Task<bool> WaitForAsync(int count, TimeSpan timeout, CancellationToken ct)
    {
        // Polling only decides when to stop waiting; arrival times are stamped by the reader thread.
        var clock = Stopwatch.StartNew();
        while (Count < count)
        {
            if (_failure is { } failure)
            {
                throw new InvalidOperationException("The bench label reader failed.", failure);
            }

            if (clock.Elapsed > timeout)
            {
                return false;
            }

            await Task.Delay(20, ct).ConfigureAwait(false);
        }

        return true;
    }

    public void Dispose()
    {
        _stop = true;
        _thread.Join(TimeSpan.FromSeconds(10));
    }

    [SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "The reader runs on its own thread; any failure is kept and rethrown to the bench that waits on it.")]
    private void Loop(ConsumerConfig config, string topic)
    {
        try
        {
            using var consumer = new ConsumerBuilder<byte[]?, Ignore>(config).Build();
            consumer.Subscribe(topic);
            while (!_stop)
            {
                var result = consumer.Consume(TimeSpan.FromMilliseconds(100));
                if (result?.Message is null)
                {
                    continue;
                }

                var now = Stopwatch.GetTimestamp();

                // The output's key is the message id (Topics): reading it instead of the JSON value keeps the reader's own
                // CPU small, which matters when the processor it measures shares the cores at tens of thousands of labels/s.
                if (result.Message.Key is not { } key
                    || !key.AsSpan().StartsWith(_prefix)
                    || !Utf8Parser.TryParse(key.AsSpan(_prefix.Length), out int index, out var consumed)
                    || consumed != key.Length - _prefix.Length
                    || (uint)index >= (uint)_arrived.Length)
                {
                    continue;
                }

                // At-least-once delivery may repeat a label; the first arrival is the latency.
                if (Interlocked.CompareExchange(ref _arrived[index], now, 0) == 0)
                {
                    Interlocked.Increment(ref _count);
                }
            }

            consumer.Close();
        }
        catch (Exception ex)
        {
            _failure = ex;
        }
    }
}
