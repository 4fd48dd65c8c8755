using System.Collections.Concurrent;
using System.Diagnostics;
using Confluent.Kafka;
using StreamBert.Kafka.Tests;

namespace StreamBert.EndToEnd.Tests;

public sealed partial class CrashRecoveryTests
{
    /// <summary>
    /// Fail fast, then recover: the engine of a real <c>streambert processor</c> process throws mid-stream
    /// (<c>Processor:Chaos</c>); the process must exit non-zero within 10 s instead of hanging with a live
    /// <c>/healthz</c>, having committed only offsets whose outputs were acknowledged; a restart in the same group
    /// answers every input, repeating at most the inputs that were delivered but not yet committed.
    /// </summary>
    [Fact]
    public async Task Processor_EngineThrowsMidStream_ExitsNonZeroWithin10sAndARestartAnswersEveryInput()
    {
        var bootstrap = _kafka.BootstrapServers;
        var topics = TestTopics.Create(_kafka, Partitions);
        var group = EmbeddedKafkaFixture.NewGroupId("engine-fault");
        var inputs = InputCorpus.Mixed(1000, 10, "fault");
        var log = new ConcurrentQueue<string>();
        var passed = false;
        var probeConfig = Kafka.KafkaDefaults.Consumer(bootstrap, group);
        probeConfig.EnableAutoCommit = false;
        using var probe = new ConsumerBuilder<Ignore, Ignore>(probeConfig).Build();
        try
        {
            var chaos = new Dictionary<string, string>
            {
                ["STREAMBERT__Processor__Chaos__FaultStage"] = "engine",
                // Inputs arrive in chunks of 50 every 250 ms, a batch or two per chunk: the fault comes a few chunks in.
                ["STREAMBERT__Processor__Chaos__FaultAfter"] = "8",
            };
            using var first = ProcessorProcess.Start("first", topics, bootstrap, _model.Registry, group, log, chaos);
            await first.WaitUntilConsumingAsync(TimeSpan.FromMinutes(1));
            var positions = new ConcurrentDictionary<string, TopicPartitionOffset>();
            var feeding = Task.Run(() => Feed(bootstrap, topics.Messages, inputs, positions));

            // The fault is logged by the failing process itself; the exit must follow within 10 s of that line.
            var clock = Stopwatch.StartNew();
            TimeSpan? faultAt = null;
            while (!first.HasExited)
            {
                if (faultAt is null && log.Any(l => l.Contains("Injected fault", StringComparison.Ordinal)))
                {
                    faultAt = clock.Elapsed;
                }

                Assert.True(faultAt is null || clock.Elapsed - faultAt < TimeSpan.FromSeconds(10), $"the processor still runs {clock.Elapsed - faultAt} after its engine failed");
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(90), $"the processor did not exit within 90 s ({OutputCount(probe, topics)} of {inputs.Count} inputs answered, fault {(faultAt is null ? "not logged" : "logged")})");
                await Task.Delay(50);
            }

            // HasExited can turn true before the last lines written to its pipes are read: read them to the end.
            await first.WaitForOutputAsync(TimeSpan.FromSeconds(10));
            Assert.NotEqual(0, first.ExitCode);
            Assert.Contains(log, l => l.Contains("Processor stage engine failed", StringComparison.Ordinal));
            var committedAtExit = Committed(probe, topics.Messages);
            var beforeRestart = Snapshot(bootstrap, probe, topics);
            log.Enqueue($"exited {first.ExitCode} {(clock.Elapsed - faultAt)?.TotalSeconds:F1} s after the fault was logged, {beforeRestart.Count} outputs; committed {string.Join(", ", committedAtExit)}");

            // Committed means answered: every input below a committed offset has its output on a topic already.
            Assert.True(committedAtExit.Sum() <= beforeRestart.Count, $"committed {committedAtExit.Sum()} inputs but only {beforeRestart.Count} outputs exist");

            using var second = ProcessorProcess.Start("second", topics, bootstrap, _model.Registry, group, log);
            Assert.Empty(await feeding);
            Assert.Equal(inputs.Count, positions.Count);
            Assert.True(beforeRestart.Count < inputs.Count, "the first processor answered every input before its engine failed");

            var inputEnd = EndOffsets(probe, topics.Messages);
            clock.Restart();
            while (!Committed(probe, topics.Messages).SequenceEqual(inputEnd))
            {
                Assert.False(second.HasExited, "the second processor exited on its own");
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(150), $"the second processor did not finish: committed {string.Join(", ", Committed(probe, topics.Messages))} of {string.Join(", ", inputEnd)}");
                await Task.Delay(200);
            }

            var final = Snapshot(bootstrap, probe, topics);
            second.Kill();

            var inputOf = inputs.ToDictionary(i => i.ExpectedId ?? i.Key, i => i.Key);
            var valid = inputs.Where(i => i.Valid).Select(i => i.Key).ToHashSet();
            Assert.All(final, o => Assert.Equal(valid.Contains(inputOf[o.Key]) ? topics.MessagesSpam : topics.MessagesDlq, o.Topic));
            var answered = final.Select(o => inputOf[o.Key]).ToHashSet();
            Assert.Empty(inputs.Where(i => !answered.Contains(i.Key)).Select(i => i.Key));

            // Duplicates only where the first process delivered an output whose offset it had not committed when it
            // exited: the in-flight inputs above the committed offsets.
            bool AboveCommit(string input) => positions[input].Offset.Value >= committedAtExit[positions[input].Partition.Value];
            var deliveredUncommitted = beforeRestart.Select(o => inputOf[o.Key]).Distinct().Count(AboveCommit);
            var outputsPerInput = final.GroupBy(o => inputOf[o.Key]).ToDictionary(g => g.Key, g => g.Count());
            var duplicates = outputsPerInput.Values.Sum(n => n - 1);
            log.Enqueue($"{final.Count} outputs for {inputs.Count} inputs: {duplicates} duplicates; {deliveredUncommitted} inputs delivered but uncommitted at the exit");
            Assert.Empty(outputsPerInput.Where(p => p.Value > 1 && !AboveCommit(p.Key)).Select(p => $"{p.Key} at {positions[p.Key]}"));
            Assert.True(duplicates <= deliveredUncommitted, $"{duplicates} duplicates, but only {deliveredUncommitted} inputs were delivered and uncommitted");
            passed = true;
        }
        finally
        {
            foreach (var line in passed ? log.Where(l => !l.StartsWith('[')) : log)
            {
                _output.WriteLine(line);
            }
        }
    }
}
