using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using StreamBert.Contracts;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;
using StreamBert.Engine.Tokenization;
using StreamBert.Processor.Diagnostics;
using StreamBert.Processor.Inference;

namespace StreamBert.Cli.Bench;

/// <summary>
/// Hot-swap pause: the engine runs batches back to back on one thread (as the processor's engine does) while
/// another thread applies model events through the processor's own <see cref="ModelUpdater"/> (load, verify,
/// warm up, swap). The pause is the time a batch start waits because of a swap: the lease taken at batch start
/// is the only point where the engine touches the swap, so every batch start's wait is measured and the
/// ones within a swap's exchange are reported separately. Loading runs beside the engine and costs it CPU,
/// which shows as batch time, not as a pause; that cost is reported too.
/// </summary>
internal static class SwapBench
{
    public static int Run(string registryRoot, int swaps, TextWriter output, CancellationToken cancellationToken)
    {
        var source = new ModelRegistry(registryRoot);
        var current = source.CurrentDirectory("spam")
            ?? throw new InvalidOperationException($"The registry {source.Root} has no spam bundle; run `streambert train --task spam --data data/sms/SMSSpamCollection.tsv --registry {source.Root}` first.");
        var sms = Path.Combine(RepoPaths.ShippedData() ?? throw new InvalidOperationException("Run from the repository (data/ is needed)."), "sms", "SMSSpamCollection.tsv");

        // Two versions with the same files (v1, v2) in a scratch registry: alternating events swap every time.
        var scratch = new ModelRegistry(Path.Combine(Path.GetTempPath(), "streambert-swapbench-" + Guid.NewGuid().ToString("N")));
        try
        {
            var manifest = ModelRegistry.ReadManifest(current);
            for (var i = 0; i < 2; i++)
            {
                scratch.Publish("spam", dir =>
                {
                    foreach (var file in manifest.Files.Keys)
                    {
                        File.Copy(Path.Combine(current, file), Path.Combine(dir, file));
                    }
                }, (version, files) => manifest with { Version = version, Files = files });
            }

            var texts = BenchCorpus.Load(sms, 8);
            output.WriteLine($"Swap benchmark: {swaps} swaps per mode while the engine runs batches of {texts.Count} SMS messages back to back");
            foreach (var share in new[] { true, false })
            {
                var result = Measure(scratch, texts, swaps, share, cancellationToken);
                output.WriteLine(share
                    ? "Mode: new head, same encoder graph (what the trainer publishes; the encoder session is shared)"
                    : "Mode: every version loads its own encoder session (a fine-tuned graph)");
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  batch-start wait at a swap (the pause): p50 {result.SwapWaitP50 * 1000:F1} µs, p99 {result.SwapWaitP99 * 1000:F1} µs, max {result.SwapWaitMax * 1000:F1} µs over {result.SwapStarts} batch starts"));
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  exchange (reference swap): p50 {result.ExchangeP50 * 1000:F1} µs, p99 {result.ExchangeP99 * 1000:F1} µs; all batch starts: p99 wait {result.AllWaitP99 * 1000:F1} µs over {result.Batches} batches"));
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  load + verify + warm-up per version: median {result.LoadMedianMs:F0} ms (beside the engine); batch time while loading / steady: {result.LoadingSlowdown:F2}×"));
            }

            return 0;
        }
        finally
        {
            try
            {
                Directory.Delete(scratch.Root, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private sealed record Result(int Batches, int SwapStarts, double SwapWaitP50, double SwapWaitP99, double SwapWaitMax, double AllWaitP99, double ExchangeP50, double ExchangeP99, double LoadMedianMs, double LoadingSlowdown);

    private static Result Measure(ModelRegistry registry, IReadOnlyList<string> texts, int swaps, bool share, CancellationToken cancellationToken)
    {
        using var metrics = new ProcessorMetrics();
        var initial = ModelSet.Load([registry.BundleDirectory("spam", "v1")]);
        using var slot = new ModelSlot(initial);
        var updater = new ModelUpdater(slot, registry.Root, new SessionSettings(), metrics, NullLogger.Instance) { ShareEncoders = share };
        var batch = Tokenize(initial.Tokenizer, texts);

        // Engine thread: (start timestamp, wait for the lease in ms, batch ms).
        var samples = new List<(long Start, double WaitMs, double BatchMs)>();
        var loading = new List<(long From, long To)>();
        var exchanges = new List<(long At, double Ms)>();
        using var stop = new CancellationTokenSource();
        var engine = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                var start = Stopwatch.GetTimestamp();
                using var lease = slot.Acquire();
                var leased = Stopwatch.GetTimestamp();
                lease.Models.Run(batch);
                samples.Add((start, Stopwatch.GetElapsedTime(start, leased).TotalMilliseconds, Stopwatch.GetElapsedTime(leased).TotalMilliseconds));
            }
        }) { IsBackground = true, Name = "bench-engine" };
        engine.Start();

        Thread.Sleep(1000); // steady state first
        for (var i = 0; i < swaps && !cancellationToken.IsCancellationRequested; i++)
        {
            var version = i % 2 == 0 ? "v2" : "v1";
            var from = Stopwatch.GetTimestamp();
            var outcome = updater.Apply(registry.EventFor("spam", version, "bench"));
            var to = Stopwatch.GetTimestamp();
            if (outcome.Result != SwapResult.Swapped)
            {
                throw new InvalidOperationException($"Swap to {version} was {outcome.Result}: {outcome.Reason}");
            }

            loading.Add((from, to));
            exchanges.Add((to, outcome.Exchange.TotalMilliseconds));
            Thread.Sleep(300);
        }

        stop.Cancel();
        engine.Join();

        // Batch starts whose lease was taken within 50 ms of an exchange are the ones a swap could hold up.
        var window = Stopwatch.Frequency / 20;
        var atSwap = samples.Where(s => exchanges.Any(e => Math.Abs(s.Start - e.At) <= window)).Select(s => s.WaitMs).ToList();
        bool DuringLoad(long t) => loading.Any(l => t >= l.From && t <= l.To);
        var steady = samples.Where(s => !DuringLoad(s.Start)).Select(s => s.BatchMs).ToList();
        var whileLoading = samples.Where(s => DuringLoad(s.Start)).Select(s => s.BatchMs).ToList();
        return new Result(
            samples.Count,
            atSwap.Count,
            BenchStats.Percentile(atSwap, 0.5),
            BenchStats.Percentile(atSwap, 0.99),
            atSwap.DefaultIfEmpty(double.NaN).Max(),
            BenchStats.Percentile(samples.Select(s => s.WaitMs), 0.99),
            BenchStats.Percentile(exchanges.Select(e => e.Ms), 0.5),
            BenchStats.Percentile(exchanges.Select(e => e.Ms), 0.99),
            BenchStats.Median(loading.Select(l => Stopwatch.GetElapsedTime(l.From, l.To).TotalMilliseconds)),
            BenchStats.Median(whileLoading) / BenchStats.Median(steady));
    }

    private static List<SequenceWork> Tokenize(WordPieceTokenizer tokenizer, IReadOnlyList<string> texts)
    {
        var batch = new List<SequenceWork>();
        var tokens = new List<Token>();
        foreach (var text in texts)
        {
            tokens.Clear();
            tokenizer.Tokenize(text, tokens);
            batch.Add(new SequenceWork { Ids = TokenWindows.Ids(tokens, 0, Math.Min(tokens.Count, 126), tokenizer), Tasks = TaskSet.Spam });
        }

        return batch;
    }
}
