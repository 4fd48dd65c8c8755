using System.Diagnostics;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StreamBert.Kafka.Tests;
using StreamBert.Processor.Diagnostics;
using StreamBert.Processor.Hosting;
using StreamBert.Processor.Ingest;
using Xunit.Abstractions;

namespace StreamBert.EndToEnd.Tests;

/// <summary>
/// Overload, short form of <c>streambert bench-overload</c>: a backlog many times what the processor can drain in a
/// second arrives at once. The in-flight budget must keep the work inside the process small (bytes under
/// <c>MaxInFlightBytes</c>), hold back with hysteresis (a wait or a pause per budget's worth of records, not per record),
/// leave the backlog in Kafka where consumer lag shows it, keep consume→output latency bounded, and lose nothing — both
/// when ingest pauses its partitions at once (<c>PauseAfter</c> 0) and when it first waits for the budget (the default).
/// </summary>
[Collection(SpamModelCollection.Name)]
public sealed class OverloadTests : IClassFixture<EmbeddedKafkaFixture>
{
    private const int Partitions = 6;
    private const int Inputs = 2000;
    private const long MaxInFlightBytes = 64 * 1024;

    private readonly EmbeddedKafkaFixture _kafka;
    private readonly SpamModelFixture _model;
    private readonly ITestOutputHelper _output;

    public OverloadTests(EmbeddedKafkaFixture kafka, SpamModelFixture model, ITestOutputHelper output)
    {
        _kafka = kafka;
        _model = model;
        _output = output;
    }

    [Theory]
    [InlineData("00:00:00")]
    [InlineData("00:00:02")]
    public async Task Processor_BacklogFarAboveTheDrainRate_InFlightBoundedFewPausesLagShowsTheBacklogNothingLost(string pauseAfter)
    {
        var bootstrap = _kafka.BootstrapServers;
        var topics = TestTopics.Create(_kafka, Partitions);
        var group = EmbeddedKafkaFixture.NewGroupId("overload");
        var inputs = InputCorpus.Mixed(Inputs, 20, "ov");
        using var host = PipelineHarness.StartProcessor(topics, bootstrap, _model.Registry, group, new Dictionary<string, string?>
        {
            ["Processor:MaxInFlightBytes"] = MaxInFlightBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Processor:PauseAfter"] = pauseAfter,
        });
        var metrics = host.Services.GetRequiredService<ProcessorMetrics>();
        var budget = host.Services.GetRequiredService<ProcessorService>().Budget!;
        try
        {
            PipelineHarness.Produce(bootstrap, topics.Messages, inputs);

            // Sampled while the backlog drains: consumer lag (what /metrics exports), answered inputs.
            long LagNow() => metrics.Ingest.Lag.Sum(l => l.Lag);
            long Answered() => metrics.Produced + metrics.DeadLettered;
            long lagWhileBusy = 0;
            var clock = Stopwatch.StartNew();

            // A stall fails fast; a slow, shared machine only takes longer.
            var (lastAnswered, lastMoved) = (0L, TimeSpan.Zero);
            while (Answered() < Inputs)
            {
                if (Answered() != lastAnswered)
                {
                    (lastAnswered, lastMoved) = (Answered(), clock.Elapsed);
                }

                Assert.True(clock.Elapsed - lastMoved < TimeSpan.FromSeconds(15), $"{Answered()} of {Inputs} answered, none for 15 s ({clock.Elapsed} in)");
                Assert.True(clock.Elapsed < TimeSpan.FromMinutes(3), $"{Answered()} of {Inputs} answered after {clock.Elapsed}");
                if (Answered() >= Inputs / 4 && Answered() < Inputs / 2)
                {
                    lagWhileBusy = Math.Max(lagWhileBusy, LagNow());
                }

                await Task.Delay(100);
            }

            var drained = clock.Elapsed;
            while (LagNow() > 0 && clock.Elapsed < drained + TimeSpan.FromSeconds(5))
            {
                await Task.Delay(100);
            }

            var (_, p99) = metrics.RecentLatencyMs;
            var largest = inputs.Max(i => InFlightBudget.SizeOf(new InputRecord(new TopicPartitionOffset("t", 0, 0), null, i.Value, [], 0, 0)));
            var progress = metrics.Progress;
            _output.WriteLine($"{Inputs} inputs answered in {drained.TotalSeconds:F1} s; lag while a quarter to half answered: up to {lagWhileBusy}; " +
                $"peak in-flight {budget.PeakBytes} bytes (budget {MaxInFlightBytes}, largest record {largest}); waits {progress.Waits}, pauses {progress.Pauses}, resumes {progress.Resumes}; " +
                $"engine {budget.TokensPerSecond:F0} tokens/s; consume→output p99 {p99:F0} ms");

            // The backlog waited in Kafka: with a quarter answered, most of the rest was still unconsumed.
            Assert.True(lagWhileBusy >= Inputs / 4, $"consumer lag was at most {lagWhileBusy} while half the backlog was unanswered: the backlog sat inside the process");
            Assert.Equal(0, LagNow());

            // Bytes stay under the budget, give or take the record that crossed it (and one the client had already
            // handed over as the pause came).
            Assert.True(budget.PeakBytes <= MaxInFlightBytes + (2 * largest), $"peak {budget.PeakBytes} bytes in flight, budget {MaxInFlightBytes}");

            // Hysteresis: one hold-back per half a budget drained at most, far fewer than records. Pausing at once, every
            // hold-back is a pause; otherwise each starts as a wait, and only a wait that outlasts PauseAfter pauses.
            if (TimeSpan.Parse(pauseAfter, System.Globalization.CultureInfo.InvariantCulture) == TimeSpan.Zero)
            {
                Assert.Equal(0, progress.Waits);
                Assert.InRange(progress.Pauses, 1, Inputs / 20);
            }
            else
            {
                Assert.InRange(progress.Waits, 1, Inputs / 20);
                Assert.InRange(progress.Pauses, 0, progress.Waits);
            }

            Assert.InRange(progress.Resumes, progress.Pauses - 1, progress.Pauses);
            // Latency is bounded by the budget, not by the backlog. A record admitted last waits for the work ahead of it
            // (the token limit, plus the record that crossed it: up to MaxWindowsPerMessage windows), then for its own
            // batch (MaxBatchTokens), at the engine's measured rate, plus a second for linger, produce and commit. The rate
            // is the engine's own, so a loaded runner (2,600 tokens/s) is judged fairly; without the budget the p99 would
            // be the whole drain (tens of seconds), which the drain-relative check below also rules out.
            var options = host.Services.GetRequiredService<IOptions<ProcessorOptions>>().Value;
            var recordTokens = options.MaxWindowsPerMessage * _model.Manifest.MaxSequenceLength;
            var budgetWork = (budget.TokenLimit + recordTokens + options.MaxBatchTokens) / budget.TokensPerSecond;
            var latencyBound = TimeSpan.FromSeconds(budgetWork + 1);
            Assert.True(p99 <= latencyBound.TotalMilliseconds, $"consume→output p99 {p99:F0} ms, above {latencyBound.TotalMilliseconds:F0} ms (work ahead and own batch {budgetWork:F2} s)");
            Assert.True(p99 <= drained.TotalMilliseconds / 4, $"consume→output p99 {p99:F0} ms against a drain of {drained.TotalSeconds:F1} s: the backlog queued inside the process");

            // Nothing lost: the group committed every input, and each was answered (a label or a dead letter).
            var probeConfig = Kafka.KafkaDefaults.Consumer(bootstrap, group);
            probeConfig.EnableAutoCommit = false;
            using var probe = new ConsumerBuilder<Ignore, Ignore>(probeConfig).Build();
            var partitions = Enumerable.Range(0, Partitions).Select(p => new TopicPartition(topics.Messages, p)).ToList();
            var end = partitions.Select(p => probe.QueryWatermarkOffsets(p, TimeSpan.FromSeconds(10)).High.Value).ToList();
            var committed = new List<long>();
            while (clock.Elapsed < drained + TimeSpan.FromSeconds(10))
            {
                committed = [.. probe.Committed(partitions, TimeSpan.FromSeconds(10)).OrderBy(c => c.Partition.Value).Select(c => c.Offset.Value)];
                if (committed.SequenceEqual(end))
                {
                    break;
                }

                await Task.Delay(200);
            }

            Assert.Equal(end, committed);
            Assert.Equal(Inputs, end.Sum());
        }
        finally
        {
            await host.StopAsync();
        }
    }
}
