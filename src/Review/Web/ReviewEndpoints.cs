using System.Globalization;
using Confluent.Kafka;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using StreamBert.Contracts;
using StreamBert.Review.Spam;

namespace StreamBert.Review.Web;

/// <summary>The desk's routes. Reads are GET; every change is a POST that must carry the antiforgery token (else 400).</summary>
internal static class ReviewEndpoints
{
    public const int MaxReviewerLength = 100;
    public const string ReviewerCookie = "streambert-reviewer";

    public static void MapReviewDesk(this IEndpointRouteBuilder app)
    {
        app.MapGet("/", context =>
        {
            context.Response.Redirect("/spam");
            return Task.CompletedTask;
        });
        app.MapGet("/desk.css", context => Static(context, "text/css; charset=utf-8", Html.Stylesheet));
        app.MapGet("/desk.js", context => Static(context, "text/javascript; charset=utf-8", Html.Script));
        app.MapGet("/spam", SpamPageAsync);
        app.MapPost("/spam/label", LabelSpamAsync);
        app.MapArticles();
        app.MapModelsPage();
    }

    private static Task SpamPageAsync(HttpContext context)
    {
        var queue = context.RequestServices.GetRequiredService<SpamQueue>();
        var antiforgery = context.RequestServices.GetRequiredService<IAntiforgery>();
        var (mode, seed) = Mode(context.Request.Query["mode"], context.Request.Query["seed"]);
        var tokens = antiforgery.GetAndStoreTokens(context);
        var html = SpamPage.Render(queue, mode, seed, context.Request.Cookies[ReviewerCookie] ?? string.Empty, tokens);
        context.Response.ContentType = "text/html; charset=utf-8";
        return context.Response.WriteAsync(html, context.RequestAborted);
    }

    private static async Task LabelSpamAsync(HttpContext context)
    {
        var antiforgery = context.RequestServices.GetRequiredService<IAntiforgery>();
        if (!await antiforgery.IsRequestValidAsync(context).ConfigureAwait(false))
        {
            await Problem(context, StatusCodes.Status400BadRequest, "The form's antiforgery token is missing or invalid: reload the page and try again.").ConfigureAwait(false);
            return;
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
        if (Reviewer(context, form) is not { } reviewer)
        {
            await Problem(context, StatusCodes.Status400BadRequest, ReviewerProblem).ConfigureAwait(false);
            return;
        }

        var label = form["label"].ToString();
        if (!LabelSets.SpamLabels.Contains(label, StringComparer.Ordinal))
        {
            await Problem(context, StatusCodes.Status400BadRequest, $"label must be one of {string.Join(", ", LabelSets.SpamLabels)}.").ConfigureAwait(false);
            return;
        }

        var queue = context.RequestServices.GetRequiredService<SpamQueue>();
        var (mode, seed) = Mode(form["mode"], form["seed"]);
        var back = mode == QueueMode.Random ? $"/spam?mode=random&seed={seed}" : "/spam";
        if (queue.Find(form["id"].ToString()) is { } item)
        {
            try
            {
                await context.RequestServices.GetRequiredService<SpamLabelWriter>().WriteAsync(item, label, reviewer, context.RequestAborted).ConfigureAwait(false);
            }
            catch (ProduceException<string, byte[]> ex)
            {
                await Problem(context, StatusCodes.Status503ServiceUnavailable, "The label was not written to Kafka: " + ex.Error.Reason).ConfigureAwait(false);
                return;
            }

            queue.MarkLabelled(item.Id);
        }

        // An item no longer queued was labelled meanwhile (another reviewer, another tab): nothing to write twice.
        RememberReviewer(context, reviewer);
        context.Response.Redirect(back);
    }

    public static string ReviewerProblem => $"Give your name (1 to {MaxReviewerLength} characters) as the reviewer: every label says who gave it.";

    /// <summary>The reviewer's name from the form (or the cookie of an earlier label), or null when it is missing or unusable.</summary>
    public static string? Reviewer(HttpContext context, IFormCollection form)
    {
        var reviewer = form["reviewer"].ToString().Trim() is { Length: > 0 } typed ? typed : context.Request.Cookies[ReviewerCookie]?.Trim() ?? string.Empty;
        return reviewer.Length is 0 or > MaxReviewerLength || reviewer.Any(char.IsControl) ? null : reviewer;
    }

    public static void RememberReviewer(HttpContext context, string reviewer) =>
        context.Response.Cookies.Append(ReviewerCookie, reviewer, new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = context.Request.IsHttps, Path = "/" });

    public static (QueueMode Mode, int Seed) Mode(string? mode, string? seed)
    {
        var random = string.Equals(mode, "random", StringComparison.OrdinalIgnoreCase);
        var parsedSeed = int.TryParse(seed, NumberStyles.Integer, CultureInfo.InvariantCulture, out var s) ? s : 0;
        return (random ? QueueMode.Random : QueueMode.Uncertain, parsedSeed);
    }

    private static Task Static(HttpContext context, string contentType, string content)
    {
        context.Response.ContentType = contentType;
        return context.Response.WriteAsync(content, context.RequestAborted);
    }

    public static Task Problem(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(message + "\n", context.RequestAborted);
    }
}
