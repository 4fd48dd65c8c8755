using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StreamBert.Contracts;
using StreamBert.Engine.Models;
using StreamBert.Kafka;
using StreamBert.Review.Models;

namespace StreamBert.Review.Web;

/// <summary>
/// The models page: served versions per bundle, the trainer's published runs, an F1-over-versions chart (inline SVG,
/// drawn here: no script library under the page's Content-Security-Policy), and promote / rollback. A change takes two
/// POSTs, each with the antiforgery token: the first only shows what would change, the second (with the reviewer's
/// name) makes it, through the same <see cref="ModelPromotion"/> path as <c>streambert models promote|rollback</c>.
/// </summary>
internal static class ModelsPage
{
    private static readonly string[] Palette = ["#1f5fa8", "#c0392b", "#2e8b57", "#8e44ad", "#d35400"];

    public static void MapModelsPage(this IEndpointRouteBuilder app)
    {
        app.MapGet("/models", ShowAsync);
        app.MapGet("/models.css", context =>
        {
            context.Response.ContentType = "text/css; charset=utf-8";
            return context.Response.WriteAsync(Stylesheet, context.RequestAborted);
        });
        app.MapPost("/models/confirm", ConfirmAsync);
        app.MapPost("/models/apply", ApplyAsync);
    }

    private static Task ShowAsync(HttpContext context)
    {
        var changer = context.RequestServices.GetRequiredService<ModelChanger>();
        var history = context.RequestServices.GetRequiredService<ModelHistory>();
        var (events, unreadable) = history.Snapshot();
        var (runs, unreadableRuns) = history.RunsSnapshot();
        var view = ModelsView.Build(changer.Registry, events, unreadable, runs, unreadableRuns);
        var tokens = context.RequestServices.GetRequiredService<IAntiforgery>().GetAndStoreTokens(context);
        var options = context.RequestServices.GetRequiredService<IOptions<ReviewOptions>>().Value;
        return Write(context, Render(view, options.ModelsTopic, tokens, options.TrainerRunsTopic));
    }

    private static async Task ConfirmAsync(HttpContext context)
    {
        if (await ReadChangeAsync(context, requireReviewer: false).ConfigureAwait(false) is not { } request)
        {
            return;
        }

        var changer = context.RequestServices.GetRequiredService<ModelChanger>();
        ModelChange change;
        try
        {
            change = ModelPromotion.Plan(changer.Registry, request.Reason, request.Bundle, request.Version);
        }
        catch (InvalidOperationException ex)
        {
            await Problem(context, StatusCodes.Status409Conflict, ex.Message).ConfigureAwait(false);
            return;
        }

        var (events, unreadable) = context.RequestServices.GetRequiredService<ModelHistory>().Snapshot();
        var bundle = ModelsView.Build(changer.Registry, events, unreadable).Bundles.Single(b => b.Name == change.Bundle);
        var tokens = context.RequestServices.GetRequiredService<IAntiforgery>().GetAndStoreTokens(context);
        var topic = context.RequestServices.GetRequiredService<IOptions<ReviewOptions>>().Value.ModelsTopic;
        await Write(context, RenderConfirm(bundle, change, topic, context.Request.Cookies[ReviewEndpoints.ReviewerCookie] ?? string.Empty, tokens)).ConfigureAwait(false);
    }

    private static async Task ApplyAsync(HttpContext context)
    {
        if (await ReadChangeAsync(context, requireReviewer: true).ConfigureAwait(false) is not { } request)
        {
            return;
        }

        var planned = new ModelChange(request.Bundle, request.From, request.Version ?? string.Empty, request.Reason);
        try
        {
            await context.RequestServices.GetRequiredService<ModelChanger>().ApplyAsync(planned, request.Reviewer, context.RequestAborted).ConfigureAwait(false);
        }
        catch (InvalidOperationException ex)
        {
            await Problem(context, StatusCodes.Status409Conflict, ex.Message).ConfigureAwait(false);
            return;
        }
        catch (KafkaException ex)
        {
            await Problem(context, StatusCodes.Status503ServiceUnavailable, $"The change was not published on the models topic, so CURRENT did not move: {ex.Error.Reason}").ConfigureAwait(false);
            return;
        }

        context.Response.Cookies.Append(ReviewEndpoints.ReviewerCookie, request.Reviewer, new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = context.Request.IsHttps, Path = "/" });
        context.Response.Redirect("/models");
    }

    private sealed record ChangeRequest(string Reason, string Bundle, string? Version, string? From, string Reviewer);

    /// <summary>The form of a change, checked (antiforgery first); null after writing the refusal.</summary>
    private static async Task<ChangeRequest?> ReadChangeAsync(HttpContext context, bool requireReviewer)
    {
        if (!await context.RequestServices.GetRequiredService<IAntiforgery>().IsRequestValidAsync(context).ConfigureAwait(false))
        {
            await Problem(context, StatusCodes.Status400BadRequest, "The form's antiforgery token is missing or invalid: reload the page and try again.").ConfigureAwait(false);
            return null;
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
        var reason = form["action"].ToString();
        var bundle = form["bundle"].ToString();
        var version = form["version"].ToString() is { Length: > 0 } v ? v : null;
        var from = form["from"].ToString() is { Length: > 0 } f ? f : null;
        if (reason is not (ModelPromotion.Promote or ModelPromotion.Rollback) || !ModelRegistry.IsBundleName(bundle)
            || (version is not null && !ModelRegistry.TryParseVersion(version, out _)) || (from is not null && !ModelRegistry.TryParseVersion(from, out _))
            || (reason == ModelPromotion.Promote && version is null))
        {
            await Problem(context, StatusCodes.Status400BadRequest, "action must be promote (with a bundle and version) or rollback (with a bundle).").ConfigureAwait(false);
            return null;
        }

        var reviewer = form["reviewer"].ToString().Trim();
        if (requireReviewer && (reviewer.Length is 0 or > ReviewEndpoints.MaxReviewerLength || reviewer.Any(char.IsControl)))
        {
            await Problem(context, StatusCodes.Status400BadRequest, $"Give your name (1 to {ReviewEndpoints.MaxReviewerLength} characters) as the reviewer: every change says who made it.").ConfigureAwait(false);
            return null;
        }

        return new ChangeRequest(reason, bundle, version, from, reviewer);
    }

    internal static string Render(ModelsView view, string topic, AntiforgeryTokenSet antiforgery, string runsTopic = Topics.TrainerRuns)
    {
        var html = new StringBuilder(8192);
        Html.Page(html, "StreamBert review — models", "/models", page =>
        {
            page.Append("<link rel=\"stylesheet\" href=\"/models.css\"><h1>Models</h1>")
                .Append("<p class=\"meta\">Registry <code>").Append(Html.Text(view.Registry)).Append("</code> · events from <code>").Append(Html.Text(topic)).Append("</code>");
            if (view.UnreadableEvents > 0)
            {
                page.Append(" · <span id=\"unreadable\">").Append(view.UnreadableEvents).Append(" unreadable events not shown</span>");
            }

            page.Append(" · runs from <code>").Append(Html.Text(runsTopic)).Append("</code>");
            if (view.UnreadableRuns > 0)
            {
                page.Append(" · <span id=\"unreadable-runs\">").Append(view.UnreadableRuns).Append(" unreadable run reports not shown</span>");
            }

            page.Append("</p>");
            if (view.Bundles.Count == 0)
            {
                page.Append("<p id=\"empty\">The registry holds no bundle yet (streambert train writes one).</p>");
            }

            foreach (var bundle in view.Bundles)
            {
                RenderBundle(page, bundle, antiforgery);
            }
        });
        return html.ToString();
    }

    private static void RenderBundle(StringBuilder page, BundleView bundle, AntiforgeryTokenSet antiforgery)
    {
        var name = Html.Text(bundle.Name);
        page.Append("<section class=\"bundle\" id=\"bundle-").Append(name).Append("\" data-bundle=\"").Append(name).Append("\"><h2>").Append(name).Append("</h2>")
            .Append("<p class=\"serving\">CURRENT <strong class=\"current\">").Append(Html.Text(bundle.Current ?? "none")).Append("</strong> · models topic announced <strong class=\"served\">")
            .Append(Html.Text(bundle.Served ?? "nothing yet")).Append("</strong>");
        if (bundle.ServedReason is { } reason)
        {
            page.Append(" (").Append(Html.Text(reason)).Append(')');
        }

        if (bundle.Served is { } served && bundle.Current is { } current && served != current)
        {
            page.Append(" <span class=\"warn\">processors follow the topic, not CURRENT</span>");
        }

        if (bundle.RollbackTarget is { } target)
        {
            page.Append(' ');
            ChangeForm(page, antiforgery, "/models/confirm", ModelPromotion.Rollback, bundle.Name, null, null, "rollback", $"Roll back to {target}");
        }

        page.Append("</p>");
        foreach (var (task, index) in bundle.Tasks.Select((t, i) => (t, i)))
        {
            Chart(page, bundle, task, Palette[index % Palette.Length]);
        }

        page.Append("<table class=\"versions\"><thead><tr><th>version</th><th>parent</th><th>created (UTC)</th><th>F1</th><th>operating point</th><th></th></tr></thead><tbody>");
        foreach (var version in bundle.Versions.Reverse())
        {
            page.Append("<tr data-version=\"").Append(Html.Text(version.Version)).Append('"').Append(version.IsCurrent ? " class=\"is-current\"" : string.Empty).Append("><td>")
                .Append(Html.Text(version.Version));
            if (version.IsCurrent)
            {
                page.Append(" <span class=\"tag\">current</span>");
            }

            if (version.IsServed)
            {
                page.Append(" <span class=\"tag tag-served\">announced</span>");
            }

            page.Append("</td>");
            if (version.Problem is { } problem)
            {
                page.Append("<td colspan=\"4\" class=\"warn\">manifest unreadable: ").Append(Html.Text(problem)).Append("</td><td></td></tr>");
                continue;
            }

            page.Append("<td>").Append(Html.Text(version.Parent ?? "-")).Append("</td><td>")
                .Append(version.CreatedAt is { } at ? at.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) : "-").Append("</td><td class=\"f1\">")
                .AppendJoin(", ", version.F1.OrderBy(m => m.Key, StringComparer.Ordinal).Select(m => $"{Html.Text(m.Key)} {Html.Number(m.Value, "0.000")}")).Append("</td><td>")
                .AppendJoin("<br>", version.OperatingPoints.Select(p => string.Create(CultureInfo.InvariantCulture,
                    $"{Html.Text(p.Task)} ≥ {p.Point.Threshold:0.###} (P {p.Point.Precision:0.000}, R {p.Point.Recall:0.000}, FPR {p.Point.FalsePositiveRate:0.0000})")))
                .Append("</td><td>");
            if (!version.IsCurrent)
            {
                ChangeForm(page, antiforgery, "/models/confirm", ModelPromotion.Promote, bundle.Name, version.Version, null, "promote", $"Promote {version.Version}");
            }

            page.Append("</td></tr>");
        }

        page.Append("</tbody></table><h3>Published versions' runs</h3>");
        if (bundle.Runs.Count == 0)
        {
            page.Append("<p class=\"meta\">No version of this bundle was published by the training service.</p>");
        }
        else
        {
            page.Append("<table class=\"runs\"><thead><tr><th>published (UTC)</th><th>task</th><th>F1 current → candidate</th><th>gate</th><th>evaluated on</th><th>train rows</th></tr></thead><tbody>");
            foreach (var run in bundle.Runs)
            {
                var before = bundle.F1Of(run.Parent, run.Task);
                page.Append("<tr data-version=\"").Append(Html.Text(run.Version)).Append("\"><td>").Append(run.At.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)).Append("</td><td>")
                    .Append(Html.Text(run.Task)).Append("</td><td>")
                    .Append(before is { } b ? Html.Number(b, "0.000") : "-").Append(" (").Append(Html.Text(run.Parent ?? "-")).Append(") → ")
                    .Append(run.CandidateF1 is { } a ? Html.Number(a, "0.000") : "-").Append(" (").Append(Html.Text(run.Version)).Append(")</td><td>passed: published ")
                    .Append(Html.Text(run.Version)).Append("</td><td>").Append(Html.Text(run.EvaluatedOn ?? "-")).Append("</td><td>").Append(Html.Text(run.TrainRows ?? "-")).Append("</td></tr>");
            }

            page.Append("</tbody></table>");
        }

        page.Append("<p class=\"meta\">F1 values here are each version's own recorded evaluation; the gate's verdicts, refused runs included, follow.</p>");
        RenderTrainerRuns(page, bundle);

        page.Append("<h3>Models topic</h3>");
        if (bundle.Events.Count == 0)
        {
            page.Append("<p class=\"meta\">No event for this bundle read yet.</p>");
        }
        else
        {
            page.Append("<table class=\"events\"><thead><tr><th>published (UTC)</th><th>version</th><th>reason</th><th>parent</th><th>position</th></tr></thead><tbody>");
            foreach (var record in bundle.Events)
            {
                page.Append("<tr><td>").Append(record.Event.PublishedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)).Append("</td><td>")
                    .Append(Html.Text(record.Event.Version)).Append("</td><td class=\"reason\">").Append(Html.Text(record.Event.Reason)).Append("</td><td>")
                    .Append(Html.Text(record.Event.ParentVersion ?? "-")).Append("</td><td>").Append(record.Partition).Append('@').Append(record.Offset).Append("</td></tr>");
            }

            page.Append("</tbody></table>");
        }

        page.Append("</section>");
    }

    /// <summary>F1 of one task over the versions that record it, as an inline SVG line chart; the current version ringed.</summary>
    internal static void Chart(StringBuilder page, BundleView bundle, string task, string colour)
    {
        var series = bundle.F1Series(task);
        if (series.Count == 0)
        {
            return;
        }

        const double Width = 560, Height = 180, Left = 44, Right = 16, Top = 14, Bottom = 28;
        var low = Math.Max(0, Math.Floor((series.Min(p => p.F1) - 0.02) * 10) / 10);
        double X(int i) => series.Count == 1 ? Left + ((Width - Left - Right) / 2) : Left + (i * (Width - Left - Right) / (series.Count - 1));
        double Y(double f1) => Top + ((1 - ((f1 - low) / (1 - low))) * (Height - Top - Bottom));
        string N(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);

        page.Append("<figure class=\"chart\"><svg xmlns=\"http://www.w3.org/2000/svg\" class=\"f1-chart\" data-task=\"").Append(Html.Text(task))
            .Append("\" width=\"").Append(N(Width)).Append("\" height=\"").Append(N(Height)).Append("\" viewBox=\"0 0 ").Append(N(Width)).Append(' ').Append(N(Height))
            .Append("\" role=\"img\" aria-label=\"").Append(Html.Text($"{bundle.Name} {task} F1 over versions")).Append("\">");
        for (var tick = low; tick <= 1.0001; tick += low >= 0.7 ? 0.05 : 0.1)
        {
            page.Append("<line x1=\"").Append(N(Left)).Append("\" x2=\"").Append(N(Width - Right)).Append("\" y1=\"").Append(N(Y(tick))).Append("\" y2=\"").Append(N(Y(tick)))
                .Append("\" stroke=\"#ddd\"/><text x=\"").Append(N(Left - 6)).Append("\" y=\"").Append(N(Y(tick) + 4)).Append("\" text-anchor=\"end\" font-size=\"11\" fill=\"#555\">")
                .Append(Html.Number(tick, "0.00")).Append("</text>");
        }

        page.Append("<polyline fill=\"none\" stroke=\"").Append(colour).Append("\" stroke-width=\"2\" points=\"")
            .AppendJoin(' ', series.Select((p, i) => N(X(i)) + "," + N(Y(p.F1)))).Append("\"/>");
        for (var i = 0; i < series.Count; i++)
        {
            var (version, f1) = series[i];
            var current = version == bundle.Current;
            page.Append("<circle class=\"point").Append(current ? " current" : string.Empty).Append("\" data-version=\"").Append(Html.Text(version))
                .Append("\" cx=\"").Append(N(X(i))).Append("\" cy=\"").Append(N(Y(f1))).Append("\" r=\"").Append(current ? "6" : "4")
                .Append("\" fill=\"").Append(current ? "#fff" : colour).Append("\" stroke=\"").Append(colour).Append("\" stroke-width=\"2\"><title>")
                .Append(Html.Text($"{version}: {task} F1 {Html.Number(f1, "0.000")}")).Append("</title></circle>")
                .Append("<text x=\"").Append(N(X(i))).Append("\" y=\"").Append(N(Height - 8)).Append("\" text-anchor=\"middle\" font-size=\"11\" fill=\"#333\">")
                .Append(Html.Text(version)).Append("</text>");
        }

        page.Append("</svg><figcaption>").Append(Html.Text(task)).Append(" F1 by version (ringed: current)</figcaption></figure>");
    }

    internal static string RenderConfirm(BundleView bundle, ModelChange change, string topic, string reviewer, AntiforgeryTokenSet antiforgery)
    {
        var html = new StringBuilder(4096);
        var verb = change.Reason == ModelPromotion.Rollback ? "Roll back" : "Promote";
        Html.Page(html, "StreamBert review — confirm", "/models", page =>
        {
            page.Append("<link rel=\"stylesheet\" href=\"/models.css\"><h1 id=\"confirm-title\">").Append(verb).Append(' ').Append(Html.Text(change.Bundle)).Append(" to ")
                .Append(Html.Text(change.Version)).Append("?</h1><table class=\"versions\"><thead><tr><th></th><th>version</th>");
            foreach (var task in bundle.Tasks)
            {
                page.Append("<th>").Append(Html.Text(task)).Append(" F1</th>");
            }

            page.Append("</tr></thead><tbody>");
            foreach (var (label, version) in new[] { ("now", change.From), ("after", change.Version) })
            {
                page.Append("<tr><td>").Append(label).Append("</td><td>").Append(Html.Text(version ?? "none")).Append("</td>");
                foreach (var task in bundle.Tasks)
                {
                    page.Append("<td>").Append(bundle.F1Of(version, task) is { } f1 ? Html.Number(f1, "0.000") : "-").Append("</td>");
                }

                page.Append("</tr>");
            }

            page.Append("</tbody></table><p>This publishes <code>ModelPublished</code> (reason <code>").Append(Html.Text(change.Reason)).Append("</code>) on <code>")
                .Append(Html.Text(topic)).Append("</code>, which every running processor follows and swaps to, then marks ")
                .Append(Html.Text(change.Version)).Append(" CURRENT in the registry. The log records your name.</p>")
                .Append("<form class=\"change\" method=\"post\" action=\"/models/apply\">");
            Hidden(page, antiforgery.FormFieldName, antiforgery.RequestToken);
            Hidden(page, "action", change.Reason);
            Hidden(page, "bundle", change.Bundle);
            Hidden(page, "version", change.Version);
            Hidden(page, "from", change.From);
            page.Append("<label>Reviewer <input id=\"reviewer\" name=\"reviewer\" maxlength=\"").Append(ReviewEndpoints.MaxReviewerLength).Append("\" required value=\"")
                .Append(Html.Text(reviewer)).Append("\"></label> <button class=\"confirm\" type=\"submit\">Confirm: ").Append(verb.ToLowerInvariant()).Append(' ')
                .Append(Html.Text(change.Bundle)).Append(" to ").Append(Html.Text(change.Version)).Append("</button> <a href=\"/models\" class=\"cancel\">Cancel</a></form>");
        });
        return html.ToString();
    }

    /// <summary>
    /// The trainer's reports: per run the gate's verdict and, per evaluation set, F1 of the live version and the candidate
    /// on the same held-out rows (what the gate compared), with the operating-point figures where the head has one.
    /// </summary>
    private static void RenderTrainerRuns(StringBuilder page, BundleView bundle)
    {
        page.Append("<h3>Trainer runs</h3>");
        if (bundle.TrainerRuns.Count == 0)
        {
            page.Append("<p class=\"meta\">No training run report for this bundle read yet.</p>");
            return;
        }

        page.Append("<table class=\"trainer-runs\"><thead><tr><th>run</th><th>finished (UTC)</th><th>task</th><th>labels</th><th>current → candidate</th>")
            .Append("<th>F1 current → candidate (gate's sets)</th><th>verdict</th></tr></thead><tbody>");
        foreach (var record in bundle.TrainerRuns)
        {
            var run = record.Report;
            page.Append("<tr class=\"verdict-").Append(Html.Text(run.Verdict)).Append("\" data-run=\"").Append(run.Number).Append("\"><td>").Append(run.Number)
                .Append("</td><td>").Append(run.FinishedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture))
                .Append(string.Create(CultureInfo.InvariantCulture, $" ({(run.FinishedAt - run.StartedAt).TotalSeconds:0} s)")).Append("</td><td>")
                .Append(Html.Text(run.Task)).Append("</td><td>").Append(run.Labels).Append("</td><td>")
                .Append(Html.Text(run.ParentVersion ?? "-")).Append(" → ").Append(Html.Text(run.CandidateVersion ?? "candidate")).Append("</td><td class=\"f1\">");
            if (run.Scores.Count == 0)
            {
                page.Append('-');
            }

            page.AppendJoin("<br>", run.Scores.Select(Score));
            page.Append("</td><td><strong>").Append(Html.Text(run.Verdict)).Append("</strong>");
            if (run.Reason.Length > 0)
            {
                page.Append(": ").Append(Html.Text(run.Reason));
            }

            page.Append("</td></tr>");
        }

        page.Append("</tbody></table>");
    }

    private static string Score(TrainingRunScore score)
    {
        var line = new StringBuilder();
        line.Append(Html.Text(score.Set)).Append(string.Create(CultureInfo.InvariantCulture, $" (n {score.N}): {score.CurrentF1:0.000} → {score.CandidateF1:0.000}"));
        if (score.CurrentRecall is { } currentRecall && score.CandidateRecall is { } candidateRecall)
        {
            line.Append(string.Create(CultureInfo.InvariantCulture, $"; recall {currentRecall:0.000} → {candidateRecall:0.000}"));
        }

        if (score.CurrentFalsePositiveRate is { } currentFpr && score.CandidateFalsePositiveRate is { } candidateFpr)
        {
            line.Append(string.Create(CultureInfo.InvariantCulture, $", FPR {currentFpr:0.0000} → {candidateFpr:0.0000}"));
        }

        return line.ToString();
    }

    private static void ChangeForm(StringBuilder page, AntiforgeryTokenSet antiforgery, string action, string reason, string bundle, string? version, string? from, string cssClass, string label)
    {
        page.Append("<form class=\"change\" method=\"post\" action=\"").Append(action).Append("\">");
        Hidden(page, antiforgery.FormFieldName, antiforgery.RequestToken);
        Hidden(page, "action", reason);
        Hidden(page, "bundle", bundle);
        Hidden(page, "version", version);
        Hidden(page, "from", from);
        page.Append("<button type=\"submit\" class=\"").Append(cssClass).Append("\">").Append(Html.Text(label)).Append("</button></form>");
    }

    private static void Hidden(StringBuilder page, string name, string? value)
    {
        if (value is not null)
        {
            page.Append("<input type=\"hidden\" name=\"").Append(Html.Text(name)).Append("\" value=\"").Append(Html.Text(value)).Append("\">");
        }
    }

    private static Task Write(HttpContext context, string html)
    {
        context.Response.ContentType = "text/html; charset=utf-8";
        return context.Response.WriteAsync(html, context.RequestAborted);
    }

    private static Task Problem(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(message + "\n", context.RequestAborted);
    }

    private const string Stylesheet = """
        section.bundle { background: #fff; border: 1px solid #ccc; border-radius: 6px; padding: .8rem; margin-bottom: 1rem; }
        table { border-collapse: collapse; margin: .5rem 0; } th, td { border-bottom: 1px solid #eee; padding: .25rem .5rem; text-align: left; vertical-align: top; font-size: .9rem; }
        tr.is-current { background: #eef6ee; } .tag { font-size: .75rem; background: #2e8b57; color: #fff; border-radius: 3px; padding: 0 .3rem; }
        .tag-served { background: #1f5fa8; } .warn { color: #a00; } form.change { display: inline; }
        figure.chart { margin: .5rem 0; } figcaption { font-size: .85rem; color: #555; }
        tr.verdict-refused { background: #fdf2e9; } tr.verdict-failed { background: #fbeaea; }
        """;
}
