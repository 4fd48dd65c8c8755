using System.Collections.Concurrent;
using System.Diagnostics;
using Confluent.Kafka;
using StreamBert.Kafka.Tests;
using Xunit.Abstractions;

namespace StreamBert.EndToEnd.Tests;

/// <summary>
/// At-least-once across a crash: the processor runs as a child process (the real <c>streambert processor</c>
/// verb), is SIGKILLed mid-stream with no chance to drain or commit, and a second process of the same
/// consumer group takes over. The broker lives in this test process, so it outlives both.
/// </summary>
[Collection(SpamModelCollection.Name)]
public sealed partial class CrashRecoveryTests : IClassFixture<EmbeddedKafkaFixture>
{
    private const int Partitions = 3;

    private readonly EmbeddedKafkaFixture _kafka;
    private readonly SpamModelFixture _model;
    private readonly ITestOutputHelper _output;

    public CrashRecoveryTests(EmbeddedKafkaFixture kafka, SpamModelFixture model, ITestOutputHelper output)
    {
        _kafka = kafka;
        _model = model;
        _output = output;
    }

    [Fact]
    public async Task Processor_KilledMidStreamAndRestarted_EveryInputAnsweredAndDuplicatesOnlyAboveTheCommittedOffsets()
    {
        var bootstrap = _kafka.BootstrapServers;
        var topics = TestTopics.Create(_kafka, Partitions);
        var group = EmbeddedKafkaFixture.NewGroupId("crash");
        var inputs = InputCorpus.Mixed(1500, 15, "crash");
        var log = new ConcurrentQueue<string>();
        var passed = false;
        // Reads end offsets and the group's committed offsets; never subscribes, so never joins the group.
        var probeConfig = Kafka.KafkaDefaults.Consumer(bootstrap, group);
        probeConfig.EnableAutoCommit = false;
        using var probe = new ConsumerBuilder<Ignore, Ignore>(probeConfig).Build();
        try
        {
            using var first = ProcessorProcess.Start("first", topics, bootstrap, _model.Registry, group, log);
            await first.WaitUntilConsumingAsync(TimeSpan.FromMinutes(1));

            // Fed while the first processor runs; the kill must come before it has answered everything (asserted below).
            var positions = new ConcurrentDictionary<string, TopicPartitionOffset>();
            var feeding = Task.Run(() => Feed(bootstrap, topics.Messages, inputs, positions));

            // Kill once outputs are flowing and at least one commit has happened, so that the restart has both
            // committed work to skip and delivered-but-uncommitted work to repeat.
            var clock = Stopwatch.StartNew();
            while (OutputCount(probe, topics) < 500 || Committed(probe, topics.Messages).Sum() == 0)
            {
                Assert.False(first.HasExited, "the first processor exited on its own");
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(90), $"after {clock.Elapsed}: {OutputCount(probe, topics)} outputs, {Committed(probe, topics.Messages).Sum()} committed");
                await Task.Delay(100);
            }

            first.Kill();
            // Requests the killed process had already written to its sockets may still land: let them,
            // so that everything it produced is in the snapshot below.
            await Task.Delay(TimeSpan.FromSeconds(1));
            var committedAtKill = Committed(probe, topics.Messages);
            var beforeRestart = Snapshot(bootstrap, probe, topics);
            log.Enqueue($"killed after {beforeRestart.Count} outputs; committed {string.Join(", ", committedAtKill)}");

            using var second = ProcessorProcess.Start("second", topics, bootstrap, _model.Registry, group, log);
            Assert.Empty(await feeding);
            Assert.Equal(inputs.Count, positions.Count);
            Assert.True(beforeRestart.Count < inputs.Count, $"the first processor answered all {beforeRestart.Count} inputs before the kill: nothing was mid-stream");

            // Done when the group has committed every input: each commit follows the delivery of that input's outputs.
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

            // Every input answered: a label per valid input, a dead letter per invalid one.
            var inputOf = inputs.ToDictionary(i => i.ExpectedId ?? i.Key, i => i.Key);
            var valid = inputs.Where(i => i.Valid).Select(i => i.Key).ToHashSet();
            Assert.All(final, o => Assert.True(inputOf.ContainsKey(o.Key), $"output {o.Key} on {o.Topic} answers no input"));
            Assert.All(final, o => Assert.Equal(valid.Contains(inputOf[o.Key]) ? topics.MessagesSpam : topics.MessagesDlq, o.Topic));
            var answered = final.Select(o => inputOf[o.Key]).ToHashSet();
            Assert.Empty(inputs.Where(i => !answered.Contains(i.Key)).Select(i => i.Key));

            // The restarted process resumes at the committed offsets, so it repeats exactly the inputs at or above
            // them. An input is duplicated only if the first process had already delivered its output without
            // committing it: consumed, finished, but not yet covered by an (auto-)commit when SIGKILL came — the
            // records that were in flight between "delivered" and "committed", about the auto-commit interval
            // (1 s) times the throughput. It is measured here, not assumed: below the committed offsets nothing
            // may repeat; above them at most one extra output per such input.
            int Partition(string input) => positions[input].Partition.Value;
            bool AboveCommit(string input) => positions[input].Offset.Value >= committedAtKill[Partition(input)];
            var deliveredUncommitted = beforeRestart.Select(o => inputOf[o.Key]).Distinct().Count(AboveCommit);
            var outputsPerInput = final.GroupBy(o => inputOf[o.Key]).ToDictionary(g => g.Key, g => g.Count());
            var duplicated = outputsPerInput.Where(p => p.Value > 1).Select(p => p.Key).ToList();
            var duplicates = outputsPerInput.Values.Sum(n => n - 1);
            log.Enqueue($"{final.Count} outputs for {inputs.Count} inputs: {duplicates} duplicates; {deliveredUncommitted} inputs delivered but uncommitted at the kill");

            Assert.Empty(duplicated.Where(i => !AboveCommit(i)).Select(i => $"{i} at {positions[i]}"));
            Assert.True(duplicates <= deliveredUncommitted, $"{duplicates} duplicates, but only {deliveredUncommitted} inputs were delivered and uncommitted when the first processor died");
            Assert.All(outputsPerInput, p => Assert.InRange(p.Value, 1, 2));
            passed = true;
        }
        finally
        {
            // The processes' own logs (lines starting with '[') only when something failed; the summary always.
            foreach (var line in passed ? log.Where(l => !l.StartsWith('[')) : log)
            {
                _output.WriteLine(line);
            }
        }
    }

    /// <summary>Produces the inputs in paced chunks, recording where each landed; returns the delivery errors.</summary>
    private static List<string> Feed(string bootstrap, string topic, IReadOnlyList<TestInput> inputs, ConcurrentDictionary<string, TopicPartitionOffset> positions)
    {
        var errors = new ConcurrentQueue<string>();
        using var producer = new ProducerBuilder<string, byte[]>(Kafka.KafkaDefaults.Producer(bootstrap)).Build();
        foreach (var chunk in inputs.Chunk(50))
        {
            foreach (var input in chunk)
            {
                producer.Produce(topic, new Message<string, byte[]> { Key = input.Key, Value = input.Value }, report =>
                {
                    if (report.Error.IsError)
                    {
                        errors.Enqueue($"{input.Key}: {report.Error.Reason}");
                    }
                    else
                    {
                        positions[input.Key] = report.TopicPartitionOffset;
                    }
                });
            }

            // About 200 inputs a second: the processor consumes while the stream is still arriving, as in
            // production, rather than from a backlog that was complete before it started.
            Thread.Sleep(250);
        }

        if (producer.Flush(TimeSpan.FromSeconds(30)) > 0)
        {
            errors.Enqueue("undelivered after 30 s");
        }

        return [.. errors];
    }

    private sealed record Output(string Topic, string Key);

    /// <summary>Spam labels and dead letters produced so far (each topic read up to its end offsets).</summary>
    private static List<Output> Snapshot(string bootstrap, IConsumer<Ignore, Ignore> probe, TestTopics topics) =>
        [.. ReadToEnd(bootstrap, EndOffsets(probe, topics.MessagesSpam), topics.MessagesSpam).Select(k => new Output(topics.MessagesSpam, k)),
         .. ReadToEnd(bootstrap, EndOffsets(probe, topics.MessagesDlq), topics.MessagesDlq).Select(k => new Output(topics.MessagesDlq, k))];

    private static long OutputCount(IConsumer<Ignore, Ignore> probe, TestTopics topics) =>
        EndOffsets(probe, topics.MessagesSpam).Sum() + EndOffsets(probe, topics.MessagesDlq).Sum();

    /// <summary>Keys of the records of <paramref name="topic"/> below <paramref name="end"/>, read by assignment (no group).</summary>
    private static List<string> ReadToEnd(string bootstrap, long[] end, string topic)
    {
        var config = Kafka.KafkaDefaults.Consumer(bootstrap, "snapshot");
        config.EnableAutoCommit = false;
        using var consumer = new ConsumerBuilder<string, Ignore>(config).Build();
        consumer.Assign(Enumerable.Range(0, Partitions).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
        var keys = new List<string>();
        var next = new long[Partitions];
        var clock = Stopwatch.StartNew();
        while (Enumerable.Range(0, Partitions).Any(p => next[p] < end[p]))
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"{topic}: read to {string.Join(", ", next)} of {string.Join(", ", end)}");
            if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is { Message: not null } result && result.Offset.Value < end[result.Partition.Value])
            {
                keys.Add(result.Message.Key);
                next[result.Partition.Value] = result.Offset.Value + 1;
            }
        }

        return keys;
    }

    /// <summary>End offset per partition; with an idempotent producer and no transactions, the record count.</summary>
    private static long[] EndOffsets(IConsumer<Ignore, Ignore> probe, string topic) =>
        [.. Enumerable.Range(0, Partitions).Select(p => probe.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(10)).High.Value)];

    /// <summary>The probe's group's committed offset per partition (0 where it has committed nothing).</summary>
    private static long[] Committed(IConsumer<Ignore, Ignore> probe, string topic)
    {
        var committed = probe.Committed(Enumerable.Range(0, Partitions).Select(p => new TopicPartition(topic, p)), TimeSpan.FromSeconds(10));
        return [.. committed.OrderBy(c => c.Partition.Value).Select(c => Math.Max(0, c.Offset.Value))];
    }

    /// <summary><c>dotnet streambert.dll processor …</c> from the test's output folder, its output collected line by line.</summary>
    private sealed class ProcessorProcess : IDisposable
    {
        private readonly Process _process;
        private readonly TaskCompletionSource _consuming = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private ProcessorProcess(Process process) => _process = process;

        public bool HasExited => _process.HasExited;

        public int ExitCode => _process.ExitCode;

        public Task WaitForExitAsync(CancellationToken cancellationToken) => _process.WaitForExitAsync(cancellationToken);

        /// <summary>After the exit: until its stdout and stderr are read to the end (WaitForExitAsync waits for both).</summary>
        public async Task WaitForOutputAsync(TimeSpan timeout)
        {
            using var cts = new CancellationTokenSource(timeout);
            await _process.WaitForExitAsync(cts.Token);
        }

        public static ProcessorProcess Start(string name, TestTopics topics, string bootstrap, string registry, string group, ConcurrentQueue<string> log, IReadOnlyDictionary<string, string>? environment = null)
        {
            var cli = Path.Combine(AppContext.BaseDirectory, "streambert.dll");
            Assert.True(File.Exists(cli) && File.Exists(Path.ChangeExtension(cli, ".runtimeconfig.json")), $"{cli} and its runtimeconfig.json must be in the test output (project reference to src/Cli)");
            var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var arg in new[] { cli, "processor", "--bootstrap", bootstrap, "--registry", registry, "--group", group })
            {
                start.ArgumentList.Add(arg);
            }

            // ProcessorHost reads STREAMBERT__-prefixed variables; these point it at this test's topics.
            start.Environment["STREAMBERT__Processor__MetricsPort"] = "0";
            start.Environment["STREAMBERT__Topics__Messages"] = topics.Messages;
            start.Environment["STREAMBERT__Topics__MessagesSpam"] = topics.MessagesSpam;
            start.Environment["STREAMBERT__Topics__Articles"] = topics.Articles;
            start.Environment["STREAMBERT__Topics__ArticlesClaims"] = topics.ArticlesClaims;
            start.Environment["STREAMBERT__Topics__ArticlesEntities"] = topics.ArticlesEntities;
            // The killed member holds its partitions until its session expires (the mock waits
            // session.timeout.ms - 1000 ms): a short session keeps the restart in seconds.
            start.Environment["STREAMBERT__Kafka__Consumer__session.timeout.ms"] = "6000";
            start.Environment["STREAMBERT__Kafka__Consumer__heartbeat.interval.ms"] = "300";
            foreach (var (key, value) in environment ?? new Dictionary<string, string>())
            {
                start.Environment[key] = value;
            }

            var process = new Process { StartInfo = start, EnableRaisingEvents = true };
            var result = new ProcessorProcess(process);
            var clock = Stopwatch.StartNew();
            void OnLine(string stream, string? line)
            {
                if (line is null)
                {
                    return;
                }

                log.Enqueue($"[{name} {stream} +{clock.Elapsed.TotalSeconds:F1}s] {line}");
                if (line.Contains("Processor consuming", StringComparison.Ordinal))
                {
                    result._consuming.TrySetResult();
                }
            }

            process.OutputDataReceived += (_, e) => OnLine("out", e.Data);
            process.ErrorDataReceived += (_, e) => OnLine("err", e.Data);
            process.Exited += (_, _) => log.Enqueue($"{name} exited with {process.ExitCode}");
            Assert.True(process.Start(), $"could not start {start.FileName}");
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return result;
        }

        /// <summary>Waits for the subscribe log line: model loaded, consumer subscribed.</summary>
        public async Task WaitUntilConsumingAsync(TimeSpan timeout)
        {
            await Task.WhenAny(_consuming.Task, _process.WaitForExitAsync(), Task.Delay(timeout));
            Assert.True(_consuming.Task.IsCompleted, _process.HasExited ? "the processor exited before consuming" : $"the processor did not start consuming within {timeout}");
        }

        /// <summary>SIGKILL: no shutdown handler runs, nothing is drained or committed.</summary>
        public void Kill()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            Assert.True(_process.WaitForExit(TimeSpan.FromSeconds(10)), "the processor survived SIGKILL");
        }

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(TimeSpan.FromSeconds(10));
            }

            _process.Dispose();
        }
    }
}
