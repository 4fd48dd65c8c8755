using System.Globalization;
using StreamBert.Processor.Inference;

namespace StreamBert.Cli.Demo;

/// <summary>
/// Output without a terminal (CI, pipes, <c>--plain</c>): a status line every ten seconds, a line per event
/// (training run, swap, warning) as it happens, and the summary at the end.
/// </summary>
internal static class PlainReport
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    public static async Task RunAsync(DemoContext context, TextWriter output, CancellationToken stop)
    {
        var gauge = new StreamGauge(context.State, context.Metrics);
        gauge.Read();
        while (!stop.IsCancellationRequested)
        {
            await Task.Delay(Interval, stop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            output.WriteLine(Status(context, gauge.Read(), context.State.Snapshot()));
        }
    }

    /// <summary>Writes each event line with its time as it happens.</summary>
    public static void Follow(DemoState state, TextWriter output) =>
        state.Announce = line => output.WriteLine($"[{DemoText.Clock(state.Clock.Elapsed)}] {line}");

    private static string Status(DemoContext context, StreamReading r, DemoSnapshot snapshot)
    {
        var spam = snapshot.Served.GetValueOrDefault("spam", "?");
        var live = snapshot.Versions.FirstOrDefault(v => v.Version == spam);
        var models = string.Join(", ", snapshot.Served.Select(s => $"{s.Key} {s.Value}"));
        var (held, pending) = context.TrainerLabels();
        var training = snapshot.Runs is [.., { Outcome: null } running]
            ? $"run {running.Number} training for {DemoText.Clock(context.State.Clock.Elapsed - running.Started)}"
            : $"{pending}/{context.Options.RetrainEvery} new labels";
        var articles = context.WithArticles ? string.Create(CultureInfo.InvariantCulture, $" · articles {context.State.Articles.Labelled}/{context.State.Articles.Fed}") : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"[{DemoText.Clock(context.State.Clock.Elapsed)}] in {r.InRate:F1}/s out {r.OutRate:F1}/s · p50 {r.P50:F0} ms p99 {r.P99:F0} ms · lag {r.Lag} · batch {r.BatchSize:F1} seq, padding {r.Padding:P0} · dlq {r.DeadLettered}{articles} · {models} (spam {spam} accuracy {DemoText.Percent(live?.Accuracy ?? double.NaN)}) · reviewer labels {context.State.Reviews}, trainer holds {held}, {training}");
    }

    public static void Summary(DemoContext context, DemoSnapshot snapshot, TextWriter output)
    {
        var state = context.State;
        var metrics = context.Metrics;
        var elapsed = state.Clock.Elapsed.TotalSeconds;
        var labelled = snapshot.Versions.Sum(v => v.Labelled);
        output.WriteLine();
        output.WriteLine("Summary");
        output.WriteLine(Invariant($"  duration            {elapsed:F0} s"));
        output.WriteLine(Invariant($"  fed                 {state.Fed} messages ({state.Malformed} malformed on purpose); reviewers labelled {state.Reviews} ({context.Options.ReviewFraction:P0} of them, least sure first from the desk's queue, {TimeSpanText(SpamStream.ReviewDelay)} or more later)"));
        output.WriteLine($"  reviewer's desk     {new Uri(context.Desk, "/spam")} · {new Uri(context.Desk, "/articles")} · {new Uri(context.Desk, "/models")} (stopped with the demo)");
        output.WriteLine(Invariant($"  labelled            {labelled} ({labelled / elapsed:F1}/s), dead-lettered {metrics.DeadLettered}"));
        if (context.WithArticles)
        {
            var a = state.Articles;
            output.WriteLine($"  articles            {a.Fed} fed, {a.Labelled} labelled: {a.Sentences} sentences, {a.Claims} claims, {a.Entities} entities");
        }

        output.WriteLine("  accuracy vs truth by spam model version (held-out: texts no version trained on — in the SMS held-out split and the trainer's held-out labels)");
        output.WriteLine("    version   labelled   accuracy   spam F1   held-out accuracy");
        foreach (var v in snapshot.Versions)
        {
            output.WriteLine(Invariant($"    {v.Version,-9} {v.Judged,8}   {DemoText.Percent(v.Accuracy),8}   {v.SpamF1,7:F3}   {DemoText.Percent(v.HeldOutAccuracy),8} (n {v.HeldOutJudged})"));
        }

        if (snapshot.Versions.Count > 1)
        {
            var first = snapshot.Versions[0];
            var after = snapshot.Versions.Skip(1).ToList();
            var judged = after.Sum(v => v.Judged);
            var heldOut = after.Sum(v => v.HeldOutJudged);
            output.WriteLine(Invariant(
                $"  before the first swap ({first.Version}): accuracy {DemoText.Percent(first.Accuracy)}, held-out {DemoText.Percent(first.HeldOutAccuracy)}; after it ({string.Join(", ", after.Select(v => v.Version))}): accuracy {DemoText.Percent(judged == 0 ? double.NaN : (double)after.Sum(v => v.Correct) / judged)}, held-out {DemoText.Percent(heldOut == 0 ? double.NaN : (double)after.Sum(v => v.HeldOutCorrect) / heldOut)}"));
        }

        output.WriteLine($"  training runs       {snapshot.Runs.Count(r => r.Outcome is not null)} ({snapshot.Runs.Count(r => r.Outcome?.Published is not null)} published)");
        foreach (var run in snapshot.Runs)
        {
            var result = run.Outcome switch
            {
                null => "unfinished when the demo stopped (the stop cancelled its training)",
                { Published: { } p } o => Invariant($"published {p.Version} after {o.Elapsed.TotalSeconds:F0} s on {o.TrainRows} rows: {DemoText.Scores(o)}"),
                { } o => Invariant($"not published after {o.Elapsed.TotalSeconds:F0} s: {DemoText.Scores(o)}; {o.Reason}"),
            };
            output.WriteLine($"    run {run.Number} at {DemoText.Clock(run.Started)} on {run.Labels} labels: {result}");
        }

        var swaps = snapshot.Swaps.Where(s => s.Outcome.Result == SwapResult.Swapped).ToList();
        output.WriteLine($"  hot swaps           {swaps.Count}{(swaps.Count == 0 ? "" : ": " + string.Join(", ", swaps.Select(s => Invariant($"{s.Bundle} {s.From} → {s.Outcome.Version} at {DemoText.Clock(s.At)} ({s.Outcome.Exchange.TotalMilliseconds:F0} ms)"))))}");
        foreach (var refused in snapshot.Swaps.Where(s => s.Outcome.Result == SwapResult.Refused))
        {
            output.WriteLine($"    refused {refused.Bundle} {refused.Outcome.Version}: {refused.Outcome.Reason}");
        }

        var (p50, p99) = metrics.RecentLatencyMs;
        output.WriteLine(Invariant($"  latency             p50 {p50:F0} ms, p99 {p99:F0} ms (consume → output acknowledged, last 4096 records)"));
        output.WriteLine(Invariant($"  batches             {metrics.Batches}, mean {metrics.MeanBatchSize:F1} sequences, padding {metrics.PaddingRatio:P1}"));
    }

    private static string TimeSpanText(TimeSpan span) => Invariant($"{span.TotalSeconds:F0} s");

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
