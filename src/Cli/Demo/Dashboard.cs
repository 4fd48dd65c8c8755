using System.Globalization;
using System.Text;
using Spectre.Console;
using Spectre.Console.Rendering;
using StreamBert.Contracts;
using StreamBert.Processor.Inference;

namespace StreamBert.Cli.Demo;

/// <summary>
/// The live view for a terminal (Spectre.Console): stream rates and latency, the served versions with their
/// accuracy so far, the reviewer → trainer → hot swap loop, the latest verdicts and the latest article with
/// its claims and entities marked. Every text from the stream is escaped before it reaches markup.
/// </summary>
internal static class Dashboard
{
    private static readonly TimeSpan Refresh = TimeSpan.FromMilliseconds(750);
    private static readonly TimeSpan SwapHighlight = TimeSpan.FromSeconds(30);

    public static bool Supported(DemoOptions options) =>
        !options.Plain && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    public static Task RunAsync(DemoContext context, CancellationToken stop)
    {
        var gauge = new StreamGauge(context.State, context.Metrics);
        return AnsiConsole.Live(Render(context, gauge.Read(), context.State.Snapshot()))
            .AutoClear(false)
            .Overflow(VerticalOverflow.Ellipsis)
            .Cropping(VerticalOverflowCropping.Bottom)
            .StartAsync(async live =>
            {
                while (!stop.IsCancellationRequested)
                {
                    await Task.Delay(Refresh, stop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    live.UpdateTarget(Render(context, gauge.Read(), context.State.Snapshot()));
                }
            });
    }

    private static IRenderable Render(DemoContext context, StreamReading reading, DemoSnapshot snapshot)
    {
        var elapsed = context.State.Clock.Elapsed;
        var until = context.Options.Duration is { } duration ? $" / {DemoText.Clock(duration)}" : "";
        var header = new Markup(
            $"[bold]StreamBert demo[/] · {DemoText.Clock(elapsed)}{until} · embedded Kafka (3 brokers) · {Markup.Escape(context.Device)} · desk [link]{Markup.Escape(new Uri(context.Desk, "/spam").ToString())}[/] · [dim]Ctrl-C stops and prints the summary[/]");

        var top = new Grid().AddColumn().AddColumn().AddColumn();
        top.AddRow(StreamPanel(reading, context), ModelsPanel(snapshot), TrainingPanel(context, snapshot, elapsed));

        var parts = new List<IRenderable> { header, top };
        if (snapshot.Swaps.LastOrDefault(s => s.Outcome.Result == SwapResult.Swapped) is { } swap)
        {
            parts.Add(SwapPanel(swap, elapsed - swap.At < SwapHighlight, snapshot));
        }

        parts.Add(VerdictsPanel(snapshot));
        if (context.WithArticles)
        {
            parts.Add(ArticlePanel(snapshot.Article));
        }

        parts.Add(EventsPanel(snapshot));
        return new Rows(parts);
    }

    private static Panel StreamPanel(StreamReading r, DemoContext context)
    {
        var table = KeyValues();
        table.AddRow("input", Invariant($"{r.InRate:F1} msg/s ({context.State.Fed} fed)"));
        table.AddRow("output", Invariant($"{r.OutRate:F1} records/s ({r.Produced})"));
        table.AddRow("latency", Invariant($"p50 {r.P50:F0} ms · p99 {r.P99:F0} ms"));
        table.AddRow("consumer lag", Invariant($"{r.Lag} records"));
        table.AddRow("batches", Invariant($"{r.BatchSize:F1} seq · padding {r.Padding:P0}"));
        table.AddRow("dead-lettered", Invariant($"{r.DeadLettered} ({context.State.Malformed} malformed on purpose)"));
        if (context.WithArticles)
        {
            var a = context.State.Articles;
            table.AddRow("articles", Invariant($"{a.Labelled}/{a.Fed} · {a.Claims} claims · {a.Entities} entities"));
        }

        return new Panel(table).Header("stream").Expand();
    }

    private static Panel ModelsPanel(DemoSnapshot snapshot)
    {
        var table = new Table().Border(TableBorder.Simple).AddColumn("version").AddColumn("msgs").AddColumn("accuracy").AddColumn("held-out");
        foreach (var score in snapshot.Versions.TakeLast(5))
        {
            var live = snapshot.Served.GetValueOrDefault("spam") == score.Version;
            table.AddRow(
                live ? $"[bold green]spam {Markup.Escape(score.Version)}[/]" : $"[dim]spam {Markup.Escape(score.Version)}[/]",
                Invariant($"{score.Judged}"),
                DemoText.Percent(score.Accuracy),
                Invariant($"{DemoText.Percent(score.HeldOutAccuracy)} [dim](n {score.HeldOutJudged})[/]"));
        }

        var served = string.Join(" · ", snapshot.Served.Select(s => $"{Markup.Escape(s.Key)} [bold]{Markup.Escape(s.Value)}[/]"));
        return new Panel(new Rows(new Markup($"serving {served}"), table, new Markup("[dim]held-out: texts no version trained on[/]"))).Header("models").Expand();
    }

    private static Panel TrainingPanel(DemoContext context, DemoSnapshot snapshot, TimeSpan elapsed)
    {
        var (held, pending) = context.TrainerLabels();
        var lines = new List<IRenderable>
        {
            new Markup(Invariant($"reviewer labels sent [bold]{context.State.Reviews}[/] · trainer holds {held}")),
            new Markup(Invariant($"new since last run [bold]{pending}[/]/{context.Options.RetrainEvery} [dim](or after {DemoText.Clock(context.Options.RetrainWait)})[/]")),
        };

        if (snapshot.Runs is [.., { Outcome: null } running])
        {
            lines.Add(new Markup(Invariant($"[yellow]run {running.Number} training[/] on {running.Labels} labels · {DemoText.Clock(elapsed - running.Started)}")));
            if (snapshot.TrainerProgress is { } progress)
            {
                lines.Add(new Markup($"[dim]{Markup.Escape(DemoText.Shorten(progress, 90))}[/]"));
            }
        }

        foreach (var run in snapshot.Runs.Where(r => r.Outcome is not null).TakeLast(4).Reverse())
        {
            var outcome = run.Outcome!;
            var f1 = outcome.Scores is [var s, ..] ? Invariant($"F1 {s.Current:F3} → {s.Candidate:F3} (n {s.N})") : "no evaluation set";
            var result = outcome.Published is { } published ? $"[green]→ {Markup.Escape(published.Version)}[/]" : "[red]refused[/]";
            lines.Add(new Markup(Invariant($"run {run.Number} · {run.Labels} labels · {f1} {result}")));
        }

        return new Panel(new Rows(lines)).Header("review → retrain").Expand();
    }

    private static Panel SwapPanel(SwapView swap, bool fresh, DemoSnapshot snapshot)
    {
        var training = snapshot.Runs.Select(r => r.Outcome).LastOrDefault(o => o?.Published?.Version == swap.Outcome.Version && o.Bundle == swap.Bundle);
        var evaluation = training is null ? "" : $" · trained on {training.TrainRows} rows · {Markup.Escape(DemoText.Scores(training))}";
        var text = new Markup(Invariant(
            $"[bold]HOT SWAP[/] {Markup.Escape(swap.Bundle)} {Markup.Escape(swap.From)} → [bold]{Markup.Escape(swap.Outcome.Version)}[/] at {DemoText.Clock(swap.At)} · exchange {swap.Outcome.Exchange.TotalMilliseconds:F0} ms, no message dropped{evaluation}"));
        return new Panel(text).Header(fresh ? "new model live" : "last swap").BorderColor(fresh ? Color.Green : Color.Grey).Expand();
    }

    private static Panel VerdictsPanel(DemoSnapshot snapshot)
    {
        var table = new Table().Border(TableBorder.None).HideHeaders().AddColumn("t").AddColumn("label").AddColumn("ok").AddColumn("v").AddColumn("text");
        foreach (var verdict in snapshot.Recent.Reverse())
        {
            var label = verdict.Label == LabelSets.Spam ? "[red]spam[/]" : "[green]ham [/]";
            var mark = verdict.Truth is null ? " " : verdict.Truth == verdict.Label ? "[green]✓[/]" : "[red]✗[/]";
            table.AddRow(
                new Markup($"[dim]{DemoText.Clock(verdict.At)}[/]"),
                new Markup(Invariant($"{label} {verdict.Score:F2}")),
                new Markup(mark),
                new Markup($"[dim]{Markup.Escape(verdict.Version)}[/]"),
                new Markup(Markup.Escape(DemoText.Shorten(verdict.Text, 110))));
        }

        return new Panel(table).Header("messages.spam (spam, mistakes, and every 20th ham)").Expand();
    }

    private static Panel ArticlePanel(ArticleView? view)
    {
        if (view is null)
        {
            return new Panel(new Markup("[dim]waiting for the first article…[/]")).Header("articles.claims + articles.entities").Expand();
        }

        var claims = view.Claims.Sentences.Count(s => s.Label == LabelSets.Claim);
        var title = $"{Markup.Escape(view.Article.Title ?? view.Article.Id)} · {claims}/{view.Claims.Sentences.Count} check-worthy · {view.Entities.Entities.Count} entities · {Markup.Escape(view.Claims.Model.Name)} {Markup.Escape(view.Claims.Model.Version)}";
        var legend = "[dim]claims on grey · [/][cyan]PER[/] [magenta]ORG[/] [green]LOC[/] [yellow]MISC[/]";
        return new Panel(new Rows(new Markup(title), new Markup(Highlight(view, 700)), new Markup(legend))).Header("articles.claims + articles.entities").Expand();
    }

    /// <summary>The article body as markup: check-worthy sentences on a grey background, entities coloured and tagged with their type.</summary>
    internal static string Highlight(ArticleView view, int maxChars)
    {
        var body = view.Article.Body;
        var length = Math.Min(body.Length, maxChars);
        var claims = view.Claims.Sentences.Where(s => s.Label == LabelSets.Claim).ToList();
        var entities = view.Entities.Entities;
        var cuts = new SortedSet<int> { 0, length };
        foreach (var (start, end) in claims.Select(c => (c.Start, c.End)).Concat(entities.Select(e => (e.Start, e.End))))
        {
            cuts.Add(Math.Clamp(start, 0, length));
            cuts.Add(Math.Clamp(end, 0, length));
        }

        var markup = new StringBuilder();
        var points = cuts.ToList();
        for (var i = 0; i + 1 < points.Count; i++)
        {
            var (from, to) = (points[i], points[i + 1]);
            if (from >= to)
            {
                continue;
            }

            var inClaim = claims.Any(c => c.Start <= from && from < c.End);
            var entity = entities.FirstOrDefault(e => e.Start <= from && from < e.End);
            var style = string.Join(' ', new[] { entity is null ? null : "bold " + ColourOf(entity.Type), inClaim ? "on grey23" : null }.OfType<string>());
            var text = Markup.Escape(body[from..to].ReplaceLineEndings(" "));
            markup.Append(style.Length == 0 ? text : $"[{style}]{text}[/]");
            if (entity is not null && entity.End == to)
            {
                markup.Append(CultureInfo.InvariantCulture, $"[dim {ColourOf(entity.Type)}]/{Markup.Escape(entity.Type)}[/]");
            }
        }

        if (length < body.Length)
        {
            markup.Append('…');
        }

        return markup.ToString();
    }

    private static string ColourOf(string type) => type switch
    {
        "PER" => "cyan",
        "ORG" => "magenta",
        "LOC" => "green",
        _ => "yellow",
    };

    private static Panel EventsPanel(DemoSnapshot snapshot)
    {
        var lines = snapshot.Events.Reverse().Select(e => (IRenderable)new Markup($"[dim]{DemoText.Clock(e.At)}[/] {Markup.Escape(DemoText.Shorten(e.Line, 220))}")).ToList();
        if (lines.Count == 0)
        {
            lines.Add(new Markup("[dim]reviewers are labelling; the first training run starts once enough labels are in[/]"));
        }

        return new Panel(new Rows(lines)).Header("events").Expand();
    }

    private static Table KeyValues() => new Table().Border(TableBorder.None).HideHeaders().AddColumn("k").AddColumn("v");

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
